"""Pipelines API (SPEC §3.3): Segment-compatible ``/v1/identify`` … ``/v1/batch``.

Auth is the workspace's Pipelines write key (HTTP Basic ``write_key:`` or Bearer). Every message is
parsed by ``pipelines_wire`` into core operations and applied by ``Ingest`` in one transaction.
Errors are ``{"code", "message"}`` (the official ``customerio-cdp-analytics`` client reads exactly
those two keys); a batch with rejected messages answers 400 and lists them, after applying every
valid message. See ``docs/api/pipelines.md``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from relata.api import wire
from relata.api.auth import pipelines_workspace, services
from relata.api.body import read_json, require_object
from relata.api.pipelines_wire import KINDS, Parsed, parse
from relata.core.errors import ValidationError
from relata.core.model import Workspace
from relata.core.operations import Operation
from relata.services.container import Services

router = APIRouter(tags=["pipelines"])

Caller = Annotated[Workspace, Depends(pipelines_workspace)]
_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object", "additionalProperties": True}}},
    }
}
OK = {"success": True}


@dataclass(frozen=True)
class MessageError:
    """A rejected message of a batch: its index and the error, its path relative to the message."""

    index: int
    code: str
    field: str
    message: str

    def as_json(self) -> dict[str, Any]:
        return {"index": self.index, "code": self.code, "field": self.field, "message": self.message}


def apply_one(svc: Services, workspace_id: int, parsed: Parsed) -> None:
    """Apply one message; its first error is raised with the message's own field name."""
    for failure in svc.ingest.apply(workspace_id, parsed.operations):
        raise ValidationError(parsed.field(failure.field), failure.message, failure.reason)


def apply_batch(svc: Services, workspace_id: int, body: Any) -> list[MessageError]:
    """Apply every valid message of a ``/v1/batch`` body; returns the rejected ones."""
    payload = require_object(body, "body")
    messages = payload.get("batch")
    if not isinstance(messages, list):
        raise ValidationError("batch", "must be a list of messages")
    context = wire.attributes(payload.get("context"), "context")
    errors: dict[int, MessageError] = {}
    parsed: list[tuple[int, Parsed]] = []
    for index, message in enumerate(messages):
        try:
            size = len(orjson.dumps(message))
            if size > svc.limits.batch_operation_bytes:
                raise ValidationError(
                    "", f"is larger than {svc.limits.batch_operation_bytes} bytes", "too_large"
                )
            parsed.append((index, parse(message, None, context)))
        except ValidationError as error:
            errors[index] = _message_error(index, error)
    operations: list[Operation] = []
    owners: list[tuple[int, Parsed]] = []
    for index, item in parsed:
        operations.extend(item.operations)
        owners.extend((index, item) for _ in item.operations)
    if operations:
        for failure in svc.ingest.apply(workspace_id, operations):
            index, item = owners[failure.index]
            if index not in errors:
                rejected = ValidationError(item.field(failure.field), failure.message, failure.reason)
                errors[index] = _message_error(index, rejected)
    return [errors[i] for i in sorted(errors)]


def _message_error(index: int, error: ValidationError) -> MessageError:
    where = error.within(f"batch[{index}]")
    return MessageError(index, error.reason, where.path, error.message)


def batch_rejection(errors: Sequence[MessageError], total: int) -> JSONResponse:
    first = errors[0]
    applied = total - len(errors)
    counts = f"{len(errors)} of {total} messages rejected, {applied} applied"
    summary = f"{first.field}: {first.message} ({counts})"
    body = {"code": first.code, "message": summary, "errors": [e.as_json() for e in errors]}
    return JSONResponse(body, status_code=400)


def _single(kind: str) -> Callable[[Request, Workspace], Awaitable[Mapping[str, bool]]]:
    async def endpoint(request: Request, workspace: Caller) -> Mapping[str, bool]:
        svc = services(request)
        body = require_object(await read_json(request, svc.limits.entity_request_bytes), "body")
        parsed = parse(body, kind)
        await run_in_threadpool(apply_one, svc, workspace.id, parsed)
        return OK

    endpoint.__name__ = f"pipelines_{kind}"
    return endpoint


for _kind in KINDS:
    router.add_api_route(
        f"/v1/{_kind}",
        _single(_kind),
        methods=["POST"],
        summary=f"Segment-compatible {_kind} call",
        openapi_extra=_BODY,
    )


@router.post("/v1/batch", summary="Segment-compatible batch of calls", openapi_extra=_BODY)
async def pipelines_batch(request: Request, workspace: Caller) -> Any:
    svc = services(request)
    body = await read_json(request, svc.limits.batch_request_bytes)
    errors = await run_in_threadpool(apply_batch, svc, workspace.id, body)
    if errors:
        return batch_rejection(errors, len(body["batch"]))
    return OK
