"""Track API v1 (SPEC §3.1): Customer.io's ``/api/v1`` endpoints, HTTP Basic ``site_id:api_key``.

Handlers parse with ``track_v1_wire`` and apply the operations through ``Ingest``. Success is 200 ``{}``;
bad input is 400 ``{"meta": {"errors": ["field: message"]}}`` (``errors.py``), a body over
``Limits.entity_request_bytes`` is 413.

Identifiers in paths arrive percent-encoded and may contain ``/`` (``%2F``). Routing works on the raw
path, one decoded segment at a time (``RawPathRoute``), so an id like ``team/devices`` is a customer and
never the devices endpoint of customer ``team``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any
from urllib.parse import unquote

from fastapi import APIRouter, Depends, Request
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.routing import Match
from starlette.types import Scope

from relata.api import track_v1_wire as parse
from relata.api.auth import services, track_workspace
from relata.api.body import read_json, require_object
from relata.core.errors import ValidationError
from relata.core.identity import PersonRef
from relata.core.model import Workspace
from relata.core.operations import DeleteDevice, DeletePerson, Operation, SuppressPerson, UnsuppressPerson
from relata.services.segments import refs_from_ids

_SLASH = "\x00"  # stands for an encoded "/" inside one segment while the route matches


class RawPathRoute(APIRoute):
    """Match on the raw path so that ``%2F`` inside a segment stays inside that path parameter."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        raw = scope.get("raw_path")
        if scope["type"] != "http" or not isinstance(raw, bytes) or b"%00" in raw.lower():
            return super().matches(scope)
        segments = raw.decode("latin-1").split("/")
        path = "/".join(unquote(s).replace("/", _SLASH) for s in segments)
        match, child = super().matches({**scope, "path": path})
        params = child.get("path_params")
        if params:
            child["path_params"] = {
                k: v.replace(_SLASH, "/") if isinstance(v, str) else v for k, v in params.items()
            }
        return match, child


router = APIRouter(prefix="/api/v1", tags=["track v1"], route_class=RawPathRoute)
Caller = Annotated[Workspace, Depends(track_workspace)]
OK: dict[str, Any] = {}


def _field(path: str, cio_relationships_object: bool, identifier: str) -> str:
    """A write-path error's field as a v1 client names it."""
    if path == "identifiers" or path.startswith("identifiers."):
        return identifier
    if cio_relationships_object and path.startswith("cio_relationships["):
        return "cio_relationships.relationships" + path[len("cio_relationships") :]
    return path


async def _apply(
    request: Request,
    workspace: Workspace,
    operations: Sequence[Operation],
    *,
    nested_links: bool = False,
    identifier: str = "identifier",
) -> dict[str, Any]:
    """Apply ``operations`` all or nothing; the first error is raised with the field a v1 client names."""
    ingest = services(request).ingest

    def run() -> None:
        try:
            ingest.apply(workspace.id, operations, atomic=True)
        except ValidationError as error:
            field = _field(error.path, nested_links, identifier)
            raise ValidationError(field, error.message, error.reason) from None

    await run_in_threadpool(run)
    return OK


async def _body(request: Request, *, required: bool, event: bool = False) -> Mapping[str, Any]:
    """The JSON body. An event's may be as large as its data may be (100 KB), plus room for the rest."""
    limits = services(request).limits
    limit = limits.entity_request_bytes + (limits.event_data_bytes if event else 0)
    return require_object(await read_json(request, limit, required=required), "body")


def _person(request: Request, identifier: str) -> PersonRef:
    return parse.person(identifier, services(request).limits)


@router.put("/customers/{identifier}/devices", summary="Add or update a device")
async def add_device(identifier: str, request: Request, workspace: Caller) -> dict[str, Any]:
    ref = _person(request, identifier)
    svc = services(request)
    operation = parse.device(ref, await _body(request, required=True), svc.limits, svc.clock.now())
    return await _apply(request, workspace, [operation])


@router.delete("/customers/{identifier}/devices/{token}", summary="Delete a device")
async def delete_device(identifier: str, token: str, request: Request, workspace: Caller) -> dict[str, Any]:
    ref = _person(request, identifier)
    parse.device_token(token, services(request).limits, "token")
    return await _apply(request, workspace, [DeleteDevice(ref, token)])


@router.post("/customers/{identifier}/events", summary="Track an event for a person")
async def track(identifier: str, request: Request, workspace: Caller) -> dict[str, Any]:
    ref = _person(request, identifier)
    body = await _body(request, required=True, event=True)
    return await _apply(request, workspace, [parse.event(ref, body, services(request).limits)])


@router.post("/customers/{identifier}/suppress", summary="Suppress a person")
async def suppress(identifier: str, request: Request, workspace: Caller) -> dict[str, Any]:
    return await _apply(request, workspace, [SuppressPerson(_person(request, identifier))])


@router.post("/customers/{identifier}/unsuppress", summary="Unsuppress a person")
async def unsuppress(identifier: str, request: Request, workspace: Caller) -> dict[str, Any]:
    return await _apply(request, workspace, [UnsuppressPerson(_person(request, identifier))])


@router.put("/customers/{identifier}", summary="Identify (create or update) a person")
async def identify(identifier: str, request: Request, workspace: Caller) -> dict[str, Any]:
    ref = _person(request, identifier)
    body = await _body(request, required=False)
    operations = parse.identify(ref, body, services(request).limits)
    nested = isinstance(body.get("cio_relationships"), Mapping)
    return await _apply(request, workspace, operations, nested_links=nested)


@router.delete("/customers/{identifier}", summary="Delete a person")
async def delete(identifier: str, request: Request, workspace: Caller) -> dict[str, Any]:
    # A JSON body may come along (the official client sends ``{}``); it carries nothing and is not read.
    return await _apply(request, workspace, [DeletePerson(_person(request, identifier))])


@router.post("/events", summary="Track an anonymous event")
async def track_anonymous(request: Request, workspace: Caller) -> dict[str, Any]:
    body = await _body(request, required=True, event=True)
    operation = parse.event(None, body, services(request).limits)
    return await _apply(request, workspace, [operation], identifier="anonymous_id")


@router.post("/merge_customers", summary="Merge two people")
async def merge_customers(request: Request, workspace: Caller) -> dict[str, Any]:
    body = await _body(request, required=True)
    return await _apply(request, workspace, [parse.merge(body, services(request).limits)])


async def _segment_members(
    request: Request, workspace: Workspace, segment_id: str, *, add: bool
) -> dict[str, Any]:
    """Customer.io's manual-segment calls: ``{"ids": [...]}`` with ``?id_type=id|email|cio_id``."""
    body = await _body(request, required=True)
    refs = refs_from_ids(body.get("ids"), request.query_params.get("id_type", "id"))
    segments = services(request).segments
    if add:
        await run_in_threadpool(segments.add_members, workspace.id, segment_id, refs, "track")
    else:
        await run_in_threadpool(segments.remove_members, workspace.id, segment_id, refs, "track")
    return OK


@router.post("/segments/{segment_id}/add_customers", summary="Add people to a manual segment")
async def add_to_segment(segment_id: str, request: Request, workspace: Caller) -> dict[str, Any]:
    return await _segment_members(request, workspace, segment_id, add=True)


@router.post("/segments/{segment_id}/remove_customers", summary="Remove people from a manual segment")
async def remove_from_segment(segment_id: str, request: Request, workspace: Caller) -> dict[str, Any]:
    return await _segment_members(request, workspace, segment_id, add=False)
