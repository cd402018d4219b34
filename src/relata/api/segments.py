"""Segments over the App API (SPEC §5, §6): CRUD, preview, members, history, manual members.

``Authorization: Bearer <app api key>``. A segment is addressed by its id (a slug) or its number.
Errors are in the App API shape; a condition's errors name their path (``condition.and[1].related.via``).
Reference: docs/segments.md.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from relata.api import pagination
from relata.api.auth import app_workspace, services
from relata.api.body import read_json, require_object
from relata.api.pagination import Cursor, Limit, Start
from relata.api.track_v1 import RawPathRoute
from relata.core.errors import ValidationError
from relata.core.identity import PersonRef, person_ref_from_path
from relata.core.model import Workspace
from relata.services.segments import Segments, parse_csv, refs_from_ids

router = APIRouter(prefix="/v1", tags=["segments"], route_class=RawPathRoute)
Caller = Annotated[Workspace, Depends(app_workspace)]
Json = dict[str, Any]
MAX_BODY = 5_000_000
IdType = Annotated[Literal["id", "email", "cio_id"], Query(description="What the ids are (default id).")]


def _segments(request: Request) -> Segments:
    return services(request).segments


async def _object(request: Request) -> Json:
    return dict(require_object(await read_json(request, MAX_BODY), "body"))


async def _people(request: Request, id_type: str) -> list[PersonRef]:
    """``{"ids": [...]}`` (with ``?id_type=``) or a ``text/csv`` body with an id, email or cio_id column."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in ("text/csv", "application/csv"):
        raw = await request.body()
        if len(raw) > MAX_BODY:
            raise ValidationError("body", f"is larger than {MAX_BODY} bytes", "too_large")
        return parse_csv(raw)
    body = await _object(request)
    return refs_from_ids(body.get("ids"), str(body.get("id_type", id_type)))


@router.get("/segments", summary="Every segment of the workspace, with its member count")
def list_segments(request: Request, workspace: Caller) -> Json:
    return {"segments": _segments(request).all(workspace.id)}


@router.post("/segments", status_code=201, summary="Create a segment (dynamic with a condition, or manual)")
async def create_segment(request: Request, workspace: Caller) -> Json:
    body = await _object(request)
    saved, _ = await run_in_threadpool(_segments(request).save, workspace.id, body, create=True)
    return {"segment": saved}


@router.post("/segments/preview", summary="Count and sample members of an unsaved condition")
async def preview_segment(
    request: Request, workspace: Caller, sample: Annotated[int, Query(ge=0, le=100)] = 10
) -> Json:
    body = await _object(request)
    if "condition" not in body:
        raise ValidationError("condition", "is required: the condition to preview")
    return await run_in_threadpool(_segments(request).preview, workspace.id, body["condition"], sample)


@router.get("/segments/{segment_id}", summary="A segment, its versions and member count")
def get_segment(request: Request, workspace: Caller, segment_id: str) -> Json:
    return {"segment": _segments(request).get(workspace.id, segment_id)}


@router.put("/segments/{segment_id}", summary="Create or replace a segment (a new version when it changes)")
async def put_segment(request: Request, workspace: Caller, segment_id: str) -> Json:
    body = await _object(request)
    if "id" in body and body["id"] != segment_id:
        raise ValidationError("id", f"does not match the segment in the path ({segment_id!r})")
    saved, created = await run_in_threadpool(_segments(request).save, workspace.id, body, key=segment_id)
    return {"segment": saved, "created": created}


@router.delete("/segments/{segment_id}", summary="Delete a segment (its history stays)")
def delete_segment(request: Request, workspace: Caller, segment_id: str) -> Json:
    _segments(request).delete(workspace.id, segment_id)
    return {}


@router.get("/segments/{segment_id}/members", summary="Current members, in pages")
def segment_members(
    request: Request,
    workspace: Caller,
    segment_id: str,
    limit: Limit = 50,
    cursor: Cursor = None,
    start: Start = None,
) -> Json:
    after = pagination.decode(cursor, start, "segment_members", (int,))
    page = _segments(request).members(workspace.id, segment_id, None if after is None else after[0], limit)
    return {
        "members": [{k: v for k, v in item.items() if k != "pk"} for item in page.items],
        "next": pagination.encode("segment_members", None if page.next is None else [page.next]),
    }


@router.get("/segments/{segment_id}/history", summary="Entries and exits, newest first, with their cause")
def segment_history(
    request: Request,
    workspace: Caller,
    segment_id: str,
    limit: Limit = 50,
    cursor: Cursor = None,
    start: Start = None,
) -> Json:
    before = pagination.decode(cursor, start, "segment_history", (int,))
    page = _segments(request).history(workspace.id, segment_id, None if before is None else before[0], limit)
    return {
        "history": page.items,
        "next": pagination.encode("segment_history", None if page.next is None else [page.next]),
    }


@router.post("/segments/{segment_id}/members", summary="Add people to a manual segment (JSON ids or CSV)")
async def add_members(request: Request, workspace: Caller, segment_id: str, id_type: IdType = "id") -> Json:
    refs = await _people(request, id_type)
    return await run_in_threadpool(_segments(request).add_members, workspace.id, segment_id, refs, "api")


@router.delete("/segments/{segment_id}/members", summary="Remove people from a manual segment")
async def remove_members(
    request: Request, workspace: Caller, segment_id: str, id_type: IdType = "id"
) -> Json:
    refs = await _people(request, id_type)
    return await run_in_threadpool(_segments(request).remove_members, workspace.id, segment_id, refs, "api")


@router.get("/people/{identifier}/segments", summary="The segments a person is in, with when they entered")
def person_segments(
    request: Request,
    workspace: Caller,
    identifier: str,
    id_type: Annotated[Literal["id", "email", "cio_id"] | None, Query()] = None,
) -> Json:
    ref = person_ref_from_path(identifier) if id_type is None else refs_from_ids([identifier], id_type)[0]
    return {"segments": _segments(request).of_person(workspace.id, ref)}
