"""App API reads (SPEC §5): people, objects and relationships, Customer.io-compatible and Relata's own.

``Authorization: Bearer <app api key>``; every read is scoped to the key's workspace. Instants in
responses are unix seconds, as in Customer.io's App API. Reference: ``docs/api/app.md``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from relata.api import pagination
from relata.api.auth import app_workspace, services
from relata.api.body import read_json, require_object
from relata.api.pagination import Cursor, Limit, Start
from relata.api.read_models import (
    ActivitiesOut,
    ChangesOut,
    CustomerBody,
    CustomerOut,
    CustomerRelationshipOut,
    CustomerRelationshipsOut,
    FoundObjectsOut,
    LinkedPersonOut,
    MessagesOut,
    ObjectAttributesBody,
    ObjectAttributesOut,
    ObjectRelationshipsOut,
    ObjectTypeOut,
    ObjectTypesOut,
    ObjectViewOut,
    PeopleOut,
    PersonSummaryOut,
    ProfileOut,
    SegmentsOut,
    _activity,
    _change,
    _device,
    _identifiers,
    _node,
    _object_identifiers,
    _object_relation,
    _person,
    _visible_seconds,
)
from relata.api.track_v1 import RawPathRoute
from relata.api.wire import text
from relata.core.identity import PersonRef, person_ref_from_path
from relata.core.model import Workspace
from relata.core.times import to_unix
from relata.services.history import ACTIVITY_TYPES, History
from relata.services.profiles import MAX_EXPAND
from relata.services.reads import ObjectIdType, Reads

router = APIRouter(prefix="/v1", tags=["app"], route_class=RawPathRoute)
Caller = Annotated[Workspace, Depends(app_workspace)]

# --- parameters -----------------------------------------------------------------------------------

CustomerIdType = Literal["id", "email", "cio_id"]
Identifier = Annotated[str, Path(description="The person: an id, or an email / cio_id with id_type.")]
TypeRef = Annotated[str, Path(description="Object type: numeric id (`1`) or name (`cart`).")]
ObjectId = Annotated[str, Path(description="The object's id, or its cio_object_id with id_type.")]
CustomerIdTypeQuery = Annotated[
    CustomerIdType, Query(description="What the identifier is (Customer.io: id by default).")
]
PersonIdTypeQuery = Annotated[
    CustomerIdType | None,
    Query(description="What the identifier is; by default an email if it has @, cio_<id>, else an id."),
]
ObjectIdTypeQuery = Annotated[ObjectIdType, Query(description="What object_id is.")]
Expand = Annotated[
    int, Query(ge=0, le=MAX_EXPAND, description=f"Levels of related objects to include, 0 to {MAX_EXPAND}.")
]


def _customer_ref(identifier: str, id_type: CustomerIdType) -> PersonRef:
    if id_type == "cio_id" and identifier.startswith("cio_"):
        identifier = identifier[4:]
    return PersonRef(id_type, identifier)


def _person_ref(identifier: str, id_type: CustomerIdType | None) -> PersonRef:
    return person_ref_from_path(identifier) if id_type is None else _customer_ref(identifier, id_type)


def _reads(request: Request) -> Reads:
    return services(request).reads


def _history(request: Request) -> History:
    return services(request).history


# --- Customer.io-compatible reads ---------------------------------------------------------------


@router.get("/object_types", response_model=ObjectTypesOut, summary="List object types")
def object_types(request: Request, workspace: Caller) -> ObjectTypesOut:
    found = _reads(request).object_types(workspace.id)
    return ObjectTypesOut(
        types=[ObjectTypeOut(id=t.type_id, name=t.name, object_count=count) for t, count in found]
    )


_FIND_OBJECTS_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["object_type_id"],
                "properties": {
                    "object_type_id": {"type": "string", "example": "1"},
                    "filter": {
                        "type": "object",
                        "description": 'and / or (lists), not (one condition), object_attribute: {"field", '
                        '"operator": "eq"|"exists", "value", "type_id"}; omitted or {} matches all.',
                    },
                },
            },
            "example": {
                "object_type_id": "1",
                "filter": {
                    "and": [{"object_attribute": {"field": "status", "operator": "eq", "value": "active"}}]
                },
            },
        }
    },
}


@router.post(
    "/objects",
    response_model=FoundObjectsOut,
    summary="Find objects of a type by attribute filter",
    openapi_extra={"requestBody": _FIND_OBJECTS_BODY},
)
async def find_objects(
    request: Request, workspace: Caller, limit: Limit = 50, cursor: Cursor = None, start: Start = None
) -> FoundObjectsOut:
    after = pagination.decode(cursor, start, "objects", (int,))
    body = require_object(await read_json(request, services(request).limits.entity_request_bytes), "body")
    type_ref = text(body.get("object_type_id"), "object_type_id") or ""
    page = await run_in_threadpool(
        _reads(request).find_objects,
        workspace.id,
        type_ref,
        body.get("filter"),
        None if after is None else after[0],
        limit,
    )
    return FoundObjectsOut(
        identifiers=[_object_identifiers(o) for o in page.items],
        ids=[o.object_id for o in page.items],
        next=pagination.encode("objects", page.next),
    )


@router.get(
    "/objects/{type_ref}/{object_id}/attributes",
    response_model=ObjectAttributesOut,
    summary="An object's attributes and per-attribute timestamps",
)
def object_attributes(
    request: Request,
    workspace: Caller,
    type_ref: TypeRef,
    object_id: ObjectId,
    id_type: ObjectIdTypeQuery = "object_id",
) -> ObjectAttributesOut:
    obj = _reads(request).object(workspace.id, type_ref, object_id, id_type)
    return ObjectAttributesOut(
        object=ObjectAttributesBody(
            identifiers=_object_identifiers(obj),
            object_type_id=obj.type.type_id,
            type=obj.type.name,
            attributes=dict(obj.attributes),
            timestamps=_visible_seconds(obj.attributes, obj.stamps),
            created_at=to_unix(obj.created_at),
            updated_at=to_unix(obj.updated_at),
        )
    )


@router.get(
    "/objects/{type_ref}/{object_id}/relationships",
    response_model=ObjectRelationshipsOut,
    summary="People and objects related to an object (both directions)",
)
def object_relationships(
    request: Request,
    workspace: Caller,
    type_ref: TypeRef,
    object_id: ObjectId,
    id_type: ObjectIdTypeQuery = "object_id",
    limit: Limit = 50,
    cursor: Cursor = None,
    start: Start = None,
) -> ObjectRelationshipsOut:
    after = pagination.decode(cursor, start, "object_relationships", (int, int))
    page = _reads(request).object_relationships(
        workspace.id, type_ref, object_id, id_type, None if after is None else (after[0], after[1]), limit
    )
    return ObjectRelationshipsOut(
        cio_relationships=[_object_relation(r) for r in page.items],
        next=pagination.encode("object_relationships", page.next),
    )


@router.get(
    "/customers/{identifier}/attributes",
    response_model=CustomerOut,
    summary="A person's identifiers, attributes, timestamps and devices",
)
def customer_attributes(
    request: Request, workspace: Caller, identifier: Identifier, id_type: CustomerIdTypeQuery = "id"
) -> CustomerOut:
    details = _reads(request).person(workspace.id, _customer_ref(identifier, id_type))
    person = details.person
    attributes = dict(person.attributes)
    attributes["cio_id"] = person.cio_id
    if person.id is not None:
        attributes["id"] = person.id
    return CustomerOut(
        customer=CustomerBody(
            id=person.id,
            cio_id=person.cio_id,
            email=person.email,
            identifiers=_identifiers(person),
            attributes=attributes,
            timestamps=_visible_seconds(person.attributes, person.stamps),
            unsubscribed=person.attributes.get("unsubscribed") in (True, "true", 1),
            devices=[_device(d) for d in details.devices],
        )
    )


@router.get(
    "/customers/{identifier}/relationships",
    response_model=CustomerRelationshipsOut,
    summary="The objects a person is related to",
)
def customer_relationships(
    request: Request,
    workspace: Caller,
    identifier: Identifier,
    id_type: CustomerIdTypeQuery = "id",
    limit: Limit = 50,
    cursor: Cursor = None,
    start: Start = None,
) -> CustomerRelationshipsOut:
    after = pagination.decode(cursor, start, "customer_relationships", (int,))
    page = _reads(request).person_relationships(
        workspace.id, _customer_ref(identifier, id_type), None if after is None else after[0], limit
    )
    items = []
    for relation in page.items:
        obj, link = relation.link.object, relation.link
        items.append(
            CustomerRelationshipOut(
                identifiers=_object_identifiers(obj),
                object_type_id=obj.type.type_id,
                type=obj.type.name,
                object_id=obj.object_id,
                cio_object_id=obj.cio_object_id,
                relationship=relation.name,
                relationship_attributes=dict(link.attributes),
                relationship_timestamps=_visible_seconds(link.attributes, link.stamps),
            )
        )
    return CustomerRelationshipsOut(
        cio_relationships=items, next=pagination.encode("customer_relationships", page.next)
    )


@router.get(
    "/customers/{identifier}/activities",
    response_model=ActivitiesOut,
    summary="A person's events and changes, newest first",
)
def customer_activities(
    request: Request,
    workspace: Caller,
    identifier: Identifier,
    id_type: CustomerIdTypeQuery = "id",
    activity_type: Annotated[
        str | None, Query(alias="type", description="Only this type: " + ", ".join(ACTIVITY_TYPES))
    ] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
    start: Start = None,
) -> ActivitiesOut:
    before = pagination.decode(cursor, start, "activities", (int, int, int))
    person, page = _history(request).activities(
        workspace.id,
        _customer_ref(identifier, id_type),
        activity_type,
        None if before is None else (before[0], before[1], before[2]),
        limit,
    )
    return ActivitiesOut(
        activities=[_activity(a, person) for a in page.items],
        next=pagination.encode("activities", page.next),
    )


@router.get(
    "/customers/{identifier}/messages",
    response_model=MessagesOut,
    summary="Messages sent to a person (empty until delivery exists)",
)
def customer_messages(
    request: Request,
    workspace: Caller,
    identifier: Identifier,
    id_type: CustomerIdTypeQuery = "id",
    limit: Limit = 50,
    cursor: Cursor = None,
    start: Start = None,
) -> MessagesOut:
    pagination.decode(cursor, start, "messages", (int,))
    _reads(request).person(workspace.id, _customer_ref(identifier, id_type))
    return MessagesOut(messages=[], next=None)


@router.get(
    "/customers/{identifier}/segments",
    response_model=SegmentsOut,
    summary="Segments a person belongs to",
)
def customer_segments(
    request: Request, workspace: Caller, identifier: Identifier, id_type: CustomerIdTypeQuery = "id"
) -> SegmentsOut:
    ref = _customer_ref(identifier, id_type)
    return SegmentsOut(segments=services(request).segments.of_person(workspace.id, ref))


# --- Relata's own reads ---------------------------------------------------------------------------


@router.get("/people", response_model=PeopleOut, summary="Find people by id or email prefix")
def search_people(
    request: Request,
    workspace: Caller,
    id_prefix: Annotated[
        str | None, Query(alias="id", max_length=300, description="Prefix of the id.")
    ] = None,
    email: Annotated[
        str | None, Query(max_length=300, description="Prefix of the email, case-insensitive.")
    ] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
    start: Start = None,
) -> PeopleOut:
    after = pagination.decode(cursor, start, "people", (int,))
    page = _reads(request).search_people(
        workspace.id, id_prefix or None, email or None, None if after is None else after[0], limit
    )
    return PeopleOut(
        people=[
            PersonSummaryOut(
                id=p.id,
                email=p.email,
                cio_id=p.cio_id,
                created_at=to_unix(p.created_at),
                updated_at=to_unix(p.updated_at),
            )
            for p in page.items
        ],
        next=pagination.encode("people", page.next),
    )


@router.get(
    "/people/{identifier}/profile",
    response_model=ProfileOut,
    summary="A person with related objects expanded to a depth",
)
def person_profile(
    request: Request,
    workspace: Caller,
    identifier: Identifier,
    id_type: PersonIdTypeQuery = None,
    expand: Expand = 1,
) -> ProfileOut:
    profile = _reads(request).profile(workspace.id, _person_ref(identifier, id_type), expand)
    return ProfileOut(person=_person(profile.details, profile.related))


@router.get("/people/{identifier}/changes", response_model=ChangesOut, summary="A person's change history")
def person_changes(
    request: Request,
    workspace: Caller,
    identifier: Identifier,
    id_type: PersonIdTypeQuery = None,
    limit: Limit = 50,
    cursor: Cursor = None,
    start: Start = None,
) -> ChangesOut:
    before = pagination.decode(cursor, start, "changes", (int,))
    page = _history(request).person_changes(
        workspace.id, _person_ref(identifier, id_type), None if before is None else before[0], limit
    )
    return ChangesOut(changes=[_change(e) for e in page.items], next=pagination.encode("changes", page.next))


@router.get(
    "/objects/{type_ref}/{object_id}",
    response_model=ObjectViewOut,
    summary="An object with related people, parents and children expanded to a depth",
)
def object_view(
    request: Request,
    workspace: Caller,
    type_ref: TypeRef,
    object_id: ObjectId,
    id_type: ObjectIdTypeQuery = "object_id",
    expand: Expand = 1,
) -> ObjectViewOut:
    view = _reads(request).object_view(workspace.id, type_ref, object_id, id_type, expand)
    return ObjectViewOut(
        object=_node(view.node),
        people={
            name: [
                LinkedPersonOut(
                    identifiers=_identifiers(p.person),
                    relationship_attributes=dict(p.attributes),
                    relationship_timestamps=_visible_seconds(p.attributes, p.stamps),
                )
                for p in linked
            ]
            for name, linked in view.people.items()
        },
        people_count=view.people_count,
        parents={name: [_node(n) for n in nodes] for name, nodes in view.parents.items()},
        parents_count=view.parents_count,
    )


@router.get(
    "/objects/{type_ref}/{object_id}/changes", response_model=ChangesOut, summary="An object's change history"
)
def object_changes(
    request: Request,
    workspace: Caller,
    type_ref: TypeRef,
    object_id: ObjectId,
    id_type: ObjectIdTypeQuery = "object_id",
    limit: Limit = 50,
    cursor: Cursor = None,
    start: Start = None,
) -> ChangesOut:
    before = pagination.decode(cursor, start, "object_changes", (int,))
    page = _history(request).object_changes(
        workspace.id, type_ref, object_id, id_type, None if before is None else before[0], limit
    )
    return ChangesOut(
        changes=[_change(e) for e in page.items], next=pagination.encode("object_changes", page.next)
    )
