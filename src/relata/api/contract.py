"""The data contract over the App API (SPEC §4, §5): get, put (YAML or JSON), dry run, reports.

Bearer App API key. Errors of a contract name the path in the document
(``object_types.cart.attributes.status.type``) in the App API error shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from relata.api.auth import app_workspace, services
from relata.core.contract_parse import load_document
from relata.core.errors import ValidationError
from relata.core.model import Workspace
from relata.services.contract_admin import ContractAdmin

router = APIRouter(prefix="/v1/contract", tags=["contract"])

MAX_DOCUMENT_BYTES = 1_000_000
AppWorkspace = Annotated[Workspace, Depends(app_workspace)]


def admin(request: Request) -> ContractAdmin:
    found = services(request)
    return found.contract_admin


async def read_document(request: Request) -> Mapping[str, Any]:
    """The contract in the body: JSON (``application/json``) or YAML (``application/yaml``, ``text/yaml``);
    other content types are read as JSON when they parse as JSON, else as YAML."""
    encoding = request.headers.get("content-encoding", "").lower()
    if encoding not in ("", "identity"):
        raise ValidationError("content-encoding", f"unsupported encoding {encoding!r}")
    raw = await request.body()
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise ValidationError("body", f"is larger than {MAX_DOCUMENT_BYTES} bytes", "too_large")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    fmt: Literal["json", "yaml"] | None = None
    if content_type.endswith("json"):
        fmt = "json"
    elif "yaml" in content_type or content_type.endswith("yml"):
        fmt = "yaml"
    return load_document(raw, fmt)


@router.get("", summary="The contract in force")
def get_contract(request: Request, workspace: AppWorkspace) -> dict[str, Any]:
    return admin(request).current(workspace.id)


@router.put("", summary="Apply a contract (or only report what it would do with ?dry_run=true)")
async def put_contract(request: Request, workspace: AppWorkspace, dry_run: bool = False) -> dict[str, Any]:
    document = await read_document(request)
    return await run_in_threadpool(admin(request).put, workspace.id, document, dry_run)


@router.post("/dry_run", summary="Diff and stored-data impact of a proposed contract; applies nothing")
async def dry_run_contract(request: Request, workspace: AppWorkspace) -> dict[str, Any]:
    document = await read_document(request)
    return await run_in_threadpool(admin(request).dry_run, workspace.id, document)


@router.get("/violations", summary="Recorded violations per type, attribute and kind")
def list_violations(
    request: Request,
    workspace: AppWorkspace,
    type: Annotated[str | None, Query(description="only this object type (or person)")] = None,
) -> dict[str, Any]:
    found = admin(request).violations(workspace.id, type)
    return {"violations": found, "total": sum(v["count"] for v in found)}


@router.get("/quality", summary="The data-quality report of the contract in force")
def quality_report(request: Request, workspace: AppWorkspace) -> dict[str, Any]:
    return admin(request).quality(workspace.id)


@router.get("/versions", summary="Every applied version of the contract")
def list_versions(request: Request, workspace: AppWorkspace) -> dict[str, Any]:
    return {"versions": admin(request).versions(workspace.id)}
