"""Templates, snippets, lint and preview over the App API (SPEC §5, §7). Bearer App API key.

Saving a template whose Liquid does not parse is a 400 naming the field with line and column; other
lint findings against the contract come back as ``warnings`` beside the saved template. A preview
renders a stored or an unsaved template against stored people and objects and returns the content
(or why it was aborted), the variables it used, lint findings and the number of graph reads.
Reference: ``docs/templates.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from relata.api.auth import app_workspace, services
from relata.api.body import read_json, require_object
from relata.api.errors import error_response
from relata.api.responses import JSONResponse
from relata.core.errors import ValidationError
from relata.core.identity import ObjectRef, object_ref_from_identifiers, person_ref_from_identifiers
from relata.core.model import Workspace
from relata.core.templates import Aborted, EventData
from relata.core.times import parse_timestamp, to_unix
from relata.services.templates import Conflict, Preview, PreviewInput, SaveResult, Templates, findings_json
from relata.storage.templates import StoredSnippet, StoredTemplate

router = APIRouter(prefix="/v1", tags=["templates"])
Caller = Annotated[Workspace, Depends(app_workspace)]
Version = Annotated[int | None, Query(ge=1, description="A version of the template (default: current).")]
MAX_BODY_BYTES = 2_000_000
Json = dict[str, Any]


def templates_service(request: Request) -> Templates:
    return services(request).templates


# --- serialising ----------------------------------------------------------------------------------


def template_json(template: StoredTemplate) -> Json:
    return {
        "id": template.id,
        "key": template.key,
        "channel": template.channel,
        "name": template.name,
        "version": template.version,
        **template.content,
        "created_at": to_unix(template.created_at),
        "updated_at": to_unix(template.updated_at),
    }


def summary_json(template: StoredTemplate) -> Json:
    return {
        "id": template.id,
        "key": template.key,
        "channel": template.channel,
        "name": template.name,
        "version": template.version,
        "updated_at": to_unix(template.updated_at),
    }


def snippet_json(snippet: StoredSnippet) -> Json:
    return {
        "name": snippet.name,
        "version": snippet.version,
        "source": snippet.source,
        "created_at": to_unix(snippet.created_at),
        "updated_at": to_unix(snippet.updated_at),
    }


def saved_response(result: SaveResult) -> JSONResponse:
    body = {
        "template": template_json(result.template),
        "changed": result.changed,
        "warnings": findings_json(result.warnings),
    }
    return JSONResponse(body, status_code=201 if result.created else 200)


def preview_json(preview: Preview) -> Json:
    outcome = preview.outcome
    body: Json = {
        "outcome": "aborted" if isinstance(outcome, Aborted) else "rendered",
        "content": None if isinstance(outcome, Aborted) else asdict(outcome.content),
        "abort": asdict(outcome) if isinstance(outcome, Aborted) else None,
        "context": preview.context,
        "timezone": preview.timezone,
        "lint": findings_json(preview.findings),
        "graph_reads": preview.graph_reads,
    }
    if preview.template is not None:
        body["template"] = {"id": preview.template.id, "key": preview.template.key}
        body["template"]["version"] = preview.template.version
    return body


# --- parsing preview requests ---------------------------------------------------------------------


def _mapping(body: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = body.get(name)
    if value is None:
        return {}
    return require_object(value, name)


def _object_ref(value: object) -> ObjectRef:
    given = require_object(value, "object")
    identifiers = dict(given)
    if "type" in identifiers:
        if "object_type_id" in identifiers:
            raise ValidationError("object.type", "give either type or object_type_id")
        identifiers["object_type_id"] = identifiers.pop("type")
    unknown = sorted(set(identifiers) - {"object_type_id", "object_id", "cio_object_id"})
    if unknown:
        raise ValidationError(f"object.{unknown[0]}", 'unknown field; use "type" and "object_id"')
    return object_ref_from_identifiers(identifiers, "object")


def _event(value: object) -> EventData:
    given = require_object(value, "event")
    name = given.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValidationError("event.name", "is required and must be a string")
    event_id = given.get("id")
    if event_id is not None and not isinstance(event_id, str):
        raise ValidationError("event.id", "must be a string")
    timestamp = given.get("timestamp")
    millis = parse_timestamp(timestamp, "event.timestamp") if timestamp is not None else None
    return EventData(name, dict(_mapping(given, "data")), event_id, millis)


def preview_input(body: Mapping[str, Any], version: int | None = None) -> PreviewInput:
    known = {"person", "object", "relationship", "event", "journey", "message_data", "trigger", "template"}
    unknown = sorted(set(body) - known)
    if unknown:
        raise ValidationError(unknown[0], f"is not a preview field (fields: {', '.join(sorted(known))})")
    person = body.get("person")
    relationship = body.get("relationship")
    return PreviewInput(
        person=person_ref_from_identifiers(person, "person") if person is not None else None,
        object=_object_ref(body["object"]) if body.get("object") is not None else None,
        relationship=dict(require_object(relationship, "relationship")) if relationship is not None else None,
        event=_event(body["event"]) if body.get("event") is not None else None,
        journey=dict(_mapping(body, "journey")),
        message_data=dict(_mapping(body, "message_data")),
        trigger_data=dict(_mapping(body, "trigger")),
        version=version,
    )


async def _body(request: Request, *, required: bool = True) -> Mapping[str, Any]:
    return require_object(await read_json(request, MAX_BODY_BYTES, required=required), "body")


# --- templates ------------------------------------------------------------------------------------


@router.get("/templates", summary="Every template of the workspace (current versions)")
def list_templates(request: Request, workspace: Caller) -> Json:
    return {"templates": [summary_json(t) for t in templates_service(request).all(workspace.id)]}


@router.post("/templates", summary="Create a template (409 when the key exists)", status_code=201)
async def create_template(request: Request, workspace: Caller) -> Response:
    body = await _body(request)
    service = templates_service(request)
    try:
        result = await run_in_threadpool(lambda: service.save(workspace.id, body, create=True))
    except Conflict as conflict:
        return error_response(request, 409, "conflict", conflict.field, conflict.message)
    return saved_response(result)


@router.post("/templates/lint", summary="Lint an unsaved template against the contract")
async def lint_unsaved(request: Request, workspace: Caller) -> Json:
    body = await _body(request)
    findings = await run_in_threadpool(templates_service(request).lint_document, workspace.id, body)
    return {"findings": findings_json(findings)}


@router.post("/templates/preview", summary="Render an unsaved template against stored data")
async def preview_unsaved(request: Request, workspace: Caller) -> Json:
    body = await _body(request)
    if "template" not in body:
        raise ValidationError("template", "is required: the template to preview")
    given = preview_input(body)
    service = templates_service(request)
    preview = await run_in_threadpool(
        lambda: service.preview(
            workspace,
            given,
            links_base=str(request.base_url),
            document=require_object(body["template"], "template"),
        )
    )
    return preview_json(preview)


@router.get("/templates/{key}", summary="A template (its current version, or ?version=N)")
def get_template(request: Request, workspace: Caller, key: str, version: Version = None) -> Json:
    return {"template": template_json(templates_service(request).get(workspace.id, key, version))}


@router.put("/templates/{key}", summary="Create or update a template (a new version when it changes)")
async def put_template(request: Request, workspace: Caller, key: str) -> Response:
    body = await _body(request)
    service = templates_service(request)
    result = await run_in_threadpool(lambda: service.save(workspace.id, body, key=key))
    return saved_response(result)


@router.delete("/templates/{key}", summary="Delete a template (its versions stay readable)", status_code=204)
def delete_template(request: Request, workspace: Caller, key: str) -> Response:
    templates_service(request).delete(workspace.id, key)
    return Response(status_code=204)


@router.get("/templates/{key}/versions", summary="Every version of a template")
def list_versions(request: Request, workspace: Caller, key: str) -> Json:
    template, versions = templates_service(request).versions(workspace.id, key)
    return {
        "id": template.id,
        "key": template.key,
        "versions": [{**asdict(v), "created_at": to_unix(v.created_at)} for v in versions],
    }


@router.post("/templates/{key}/lint", summary="Lint a stored template against the contract in force")
def lint_stored(request: Request, workspace: Caller, key: str, version: Version = None) -> Json:
    return {"findings": findings_json(templates_service(request).lint_stored(workspace.id, key, version))}


@router.post("/templates/{key}/preview", summary="Render a stored template against stored data")
async def preview_stored(request: Request, workspace: Caller, key: str, version: Version = None) -> Json:
    body = await _body(request, required=False)
    if "template" in body:
        raise ValidationError("template", "is only for POST /v1/templates/preview")
    given = preview_input(body, version)
    service = templates_service(request)
    preview = await run_in_threadpool(
        lambda: service.preview(workspace, given, links_base=str(request.base_url), key=key)
    )
    return preview_json(preview)


# --- snippets -------------------------------------------------------------------------------------


@router.get("/snippets", summary="Every snippet of the workspace")
def list_snippets(request: Request, workspace: Caller) -> Json:
    return {"snippets": [snippet_json(s) for s in templates_service(request).snippets(workspace.id)]}


@router.get("/snippets/{name}", summary="A snippet")
def get_snippet(request: Request, workspace: Caller, name: str) -> Json:
    return {"snippet": snippet_json(templates_service(request).snippet(workspace.id, name))}


@router.put("/snippets/{name}", summary='Create or update a snippet: {"source": "..."}')
async def put_snippet(request: Request, workspace: Caller, name: str) -> Response:
    body = await _body(request)
    service = templates_service(request)
    snippet, changed = await run_in_threadpool(lambda: service.save_snippet(workspace.id, body, name=name))
    return JSONResponse(
        {"snippet": snippet_json(snippet), "changed": changed},
        status_code=201 if changed and snippet.version == 1 else 200,
    )


@router.delete("/snippets/{name}", summary="Delete a snippet", status_code=204)
def delete_snippet(request: Request, workspace: Caller, name: str) -> Response:
    templates_service(request).delete_snippet(workspace.id, name)
    return Response(status_code=204)
