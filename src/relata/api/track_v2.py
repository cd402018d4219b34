"""Track API v2 (SPEC §3.2): ``POST /api/v2/entity`` and ``POST /api/v2/batch``.

A handler authenticates (HTTP Basic site_id:api_key), reads the body within its size limit, parses every
operation (pure, in ``track_v2_wire``) and hands the valid ones to ``Ingest.apply`` in one call: one
transaction, a savepoint per operation. Errors of parsing and of the service are both reported at the
batch index of the operation they belong to (207); every valid operation is applied.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from relata.api.auth import services, track_workspace
from relata.api.body import read_json
from relata.api.track_v2_wire import check_json, parse_batch, parse_operation
from relata.core.errors import ValidationError
from relata.core.model import Workspace
from relata.services.container import Services

router = APIRouter(tags=["track v2"])
TrackWorkspace = Annotated[Workspace, Depends(track_workspace)]

_ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "batch_index": {"type": "integer"},
                    "reason": {"type": "string"},
                    "field": {"type": "string"},
                    "message": {"type": "string"},
                },
            },
        }
    },
}
_OPERATION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "action"],
    "properties": {
        "type": {"type": "string", "enum": ["person", "object", "delivery"]},
        "action": {"type": "string"},
        "identifiers": {"type": "object"},
        "attributes": {"type": "object"},
        "cio_relationships": {"type": "array", "items": {"type": "object"}},
        "name": {"type": "string"},
        "id": {"type": "string"},
        "timestamp": {"type": ["integer", "string"]},
        "device": {"type": "object"},
        "primary": {"type": "object"},
        "secondary": {"type": "object"},
    },
}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
        "responses": {
            "400": {
                "description": "Malformed request",
                "content": {"application/json": {"schema": _ERROR_SCHEMA}},
            },
            "401": {"description": "Missing or wrong site id / API key"},
            "413": {"description": "Body larger than the limit"},
        },
    }


def _json(content: dict[str, Any], status: int = 200) -> Response:
    return Response(orjson.dumps(content), status, media_type="application/json")


@router.post(
    "/api/v2/entity",
    summary="Apply one person or object operation",
    openapi_extra=_body(_OPERATION_SCHEMA),
)
async def entity(request: Request, workspace: TrackWorkspace) -> Response:
    svc = services(request)
    envelope = await read_json(request, svc.limits.entity_request_bytes)
    await run_in_threadpool(_apply_entity, svc, workspace.id, envelope)
    return _json({})


def _apply_entity(svc: Services, workspace_id: int, envelope: Any) -> None:
    check_json(envelope, svc.limits.entity_request_bytes)
    operation = parse_operation(envelope, svc.limits)
    for error in svc.ingest.apply(workspace_id, [operation]):
        raise ValidationError(error.field, error.message, error.reason)


@router.post(
    "/api/v2/batch",
    summary="Apply many person and object operations",
    openapi_extra={
        **_body(
            {
                "type": "object",
                "required": ["batch"],
                "properties": {"batch": {"type": "array", "items": _OPERATION_SCHEMA}},
            }
        ),
    },
    responses={207: {"description": "Some operations were rejected; every other one was applied"}},
)
async def batch(request: Request, workspace: TrackWorkspace) -> Response:
    svc = services(request)
    body = await read_json(request, svc.limits.batch_request_bytes)
    if not isinstance(body, dict):
        raise ValidationError("body", 'must be a JSON object {"batch": [operation, ...]}')
    items = body.get("batch")
    if items is None:
        raise ValidationError("batch", "is required: a list of operations")
    if not isinstance(items, list):
        raise ValidationError("batch", "must be a list of operations")
    errors = await run_in_threadpool(_apply_batch, svc, workspace.id, items)
    if errors:
        return _json({"errors": errors}, 207)
    return _json({})


def _apply_batch(svc: Services, workspace_id: int, items: list[Any]) -> list[dict[str, Any]]:
    """Parse every operation, apply the valid ones in one call; the errors of the rest, by batch index."""
    parsed = parse_batch(items, svc.limits)
    errors = [(index, error.reason, error.path, error.message) for index, error in parsed.errors]
    if parsed.operations:
        for failed in svc.ingest.apply(workspace_id, parsed.operations):
            errors.append((parsed.indexes[failed.index], failed.reason, failed.field, failed.message))
    errors.sort(key=lambda e: e[0])
    return [
        {"batch_index": index, "reason": reason, "field": field, "message": message}
        for index, reason, field, message in errors
    ]
