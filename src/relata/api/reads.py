"""App API reads (SPEC §5): people, objects and relationships, Customer.io-compatible and Relata's own.

``Authorization: Bearer <app api key>``; every read is scoped to the key's workspace. Instants in
responses are unix seconds, as in Customer.io's App API. Reference: ``docs/api/app.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from relata.api import pagination
from relata.api.auth import app_workspace, services
from relata.api.body import read_json, require_object
from relata.api.pagination import Cursor, Limit, Start
from relata.api.track_v1 import RawPathRoute
from relata.api.wire import text
from relata.core.identity import PersonRef, person_ref_from_path
from relata.core.model import Device, Person, StoredObject, Workspace
from relata.core.times import Millis, to_unix
from relata.services.history import ACTIVITY_TYPES, Activity, History, HistoryEntry
from relata.services.profiles import MAX_EXPAND, Node, Related
from relata.services.reads import ObjectIdType, ObjectRelation, PersonDetails, Reads

router = APIRouter(prefix="/v1", tags=["app"], route_class=RawPathRoute)
Caller = Annotated[Workspace, Depends(app_workspace)]
Json = dict[str, Any]

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


# --- response models ------------------------------------------------------------------------------


class ObjectTypeOut(BaseModel):
    id: str = Field(description="The numeric object type id, as a string.")
    name: str
    object_count: int
    enabled: bool = True


class ObjectTypesOut(BaseModel):
    types: list[ObjectTypeOut]


class ObjectIdentifiersOut(BaseModel):
    object_type_id: str
    object_id: str
    cio_object_id: str


class FoundObjectsOut(BaseModel):
    identifiers: list[ObjectIdentifiersOut]
    ids: list[str]
    next: str | None


class ObjectAttributesBody(BaseModel):
    identifiers: ObjectIdentifiersOut
    object_type_id: str
    type: str
    attributes: Json
    timestamps: dict[str, int] = Field(description="When each attribute was set (unix seconds).")
    created_at: int
    updated_at: int


class ObjectAttributesOut(BaseModel):
    object: ObjectAttributesBody


class PersonIdentifiersOut(BaseModel):
    id: str | None
    email: str | None
    cio_id: str


class ObjectRelationshipOut(BaseModel):
    kind: Literal["person", "parent", "child"]
    relationship: str = Field(description="The relationship's name (contract `as`/`inverse`, else a type).")
    identifiers: dict[str, str | None]
    object_type_id: str | None = None
    type: str | None = None
    relationship_attributes: Json
    relationship_timestamps: dict[str, int]


class ObjectRelationshipsOut(BaseModel):
    cio_relationships: list[ObjectRelationshipOut]
    next: str | None


class DeviceOut(BaseModel):
    id: str
    platform: str | None
    last_used: int | None
    attributes: Json


class CustomerBody(BaseModel):
    id: str | None
    cio_id: str
    email: str | None
    identifiers: PersonIdentifiersOut
    attributes: Json
    timestamps: dict[str, int]
    unsubscribed: bool
    devices: list[DeviceOut]


class CustomerOut(BaseModel):
    customer: CustomerBody


class CustomerRelationshipOut(BaseModel):
    identifiers: ObjectIdentifiersOut
    object_type_id: str
    type: str
    object_id: str
    cio_object_id: str
    relationship: str
    relationship_attributes: Json
    relationship_timestamps: dict[str, int]


class CustomerRelationshipsOut(BaseModel):
    cio_relationships: list[CustomerRelationshipOut]
    next: str | None


class ActivityOut(BaseModel):
    id: str
    type: str
    name: str | None
    timestamp: int
    customer_id: str | None
    customer_identifiers: PersonIdentifiersOut
    data: Json
    diff: dict[str, dict[str, Any]] = Field(description='Changed attributes: {"name": {"from", "to"}}.')
    delivery_id: str | None = None
    delivery_type: str | None = None


class ActivitiesOut(BaseModel):
    activities: list[ActivityOut]
    next: str | None


class MessagesOut(BaseModel):
    messages: list[Json]
    next: str | None


class SegmentsOut(BaseModel):
    segments: list[Json]


class NodeOut(BaseModel):
    type: str
    object_type_id: str
    object_id: str
    cio_object_id: str
    attributes: Json
    timestamps: dict[str, int]
    relationship_attributes: Json
    relationship_timestamps: dict[str, int]
    related: dict[str, list[NodeOut]] | None = Field(
        description="Related objects by relationship name; null when not expanded (depth reached or cycle)."
    )


class PersonOut(BaseModel):
    id: str | None
    email: str | None
    cio_id: str
    identifiers: PersonIdentifiersOut
    attributes: Json
    timestamps: dict[str, int]
    devices: list[DeviceOut]
    anonymous_ids: list[str]
    created_at: int
    updated_at: int
    related: dict[str, list[NodeOut]] | None


class ProfileOut(BaseModel):
    person: PersonOut


class LinkedPersonOut(BaseModel):
    identifiers: PersonIdentifiersOut
    relationship_attributes: Json
    relationship_timestamps: dict[str, int]


class ObjectViewOut(BaseModel):
    object: NodeOut
    people: dict[str, list[LinkedPersonOut]]
    people_count: int
    parents: dict[str, list[NodeOut]]
    parents_count: int


class CounterpartOut(BaseModel):
    role: Literal["person", "object", "parent", "child"]
    identifiers: dict[str, str | None]


class ChangeOut(BaseModel):
    seq: int
    at: int
    op: str
    entity: str
    diff: dict[str, dict[str, Any]] = Field(description='{"attribute": {"from": old, "to": new}}')
    data: Json
    counterpart: CounterpartOut | None


class ChangesOut(BaseModel):
    changes: list[ChangeOut]
    next: str | None


class PersonSummaryOut(BaseModel):
    id: str | None
    email: str | None
    cio_id: str
    created_at: int
    updated_at: int


class PeopleOut(BaseModel):
    people: list[PersonSummaryOut]
    next: str | None


# --- conversions ----------------------------------------------------------------------------------


def _visible_seconds(attributes: Mapping[str, Any], stamps: Mapping[str, Millis]) -> dict[str, int]:
    """Stamps of the attributes that are set (removed ones keep a stamp internally)."""
    return {name: to_unix(ms) for name, ms in stamps.items() if name in attributes}


def _identifiers(person: Person) -> PersonIdentifiersOut:
    return PersonIdentifiersOut(id=person.id, email=person.email, cio_id=person.cio_id)


def _object_identifiers(obj: StoredObject) -> ObjectIdentifiersOut:
    return ObjectIdentifiersOut(
        object_type_id=obj.type.type_id, object_id=obj.object_id, cio_object_id=obj.cio_object_id
    )


def _device(device: Device) -> DeviceOut:
    return DeviceOut(
        id=device.token,
        platform=device.platform,
        last_used=None if device.last_used is None else to_unix(device.last_used),
        attributes=dict(device.attributes),
    )


def _diff(diff: Mapping[str, tuple[Any, Any]]) -> dict[str, dict[str, Any]]:
    return {name: {"from": old, "to": new} for name, (old, new) in diff.items()}


def _node(node: Node) -> NodeOut:
    obj = node.object
    return NodeOut(
        type=obj.type.name,
        object_type_id=obj.type.type_id,
        object_id=obj.object_id,
        cio_object_id=obj.cio_object_id,
        attributes=dict(obj.attributes),
        timestamps=_visible_seconds(obj.attributes, obj.stamps),
        relationship_attributes=dict(node.relationship_attributes),
        relationship_timestamps=_visible_seconds(node.relationship_attributes, node.relationship_stamps),
        related=_related(node.related),
    )


def _related(related: Related | None) -> dict[str, list[NodeOut]] | None:
    if related is None:
        return None
    return {name: [_node(n) for n in nodes] for name, nodes in related.items()}


def _person(details: PersonDetails, related: Related | None) -> PersonOut:
    person = details.person
    return PersonOut(
        id=person.id,
        email=person.email,
        cio_id=person.cio_id,
        identifiers=_identifiers(person),
        attributes=dict(person.attributes),
        timestamps=_visible_seconds(person.attributes, person.stamps),
        devices=[_device(d) for d in details.devices],
        anonymous_ids=list(details.anonymous_ids),
        created_at=to_unix(person.created_at),
        updated_at=to_unix(person.updated_at),
        related=_related(related),
    )


def _object_relation(relation: ObjectRelation) -> ObjectRelationshipOut:
    common = {
        "kind": relation.direction,
        "relationship": relation.name,
        "relationship_attributes": dict(relation.attributes),
        "relationship_timestamps": _visible_seconds(relation.attributes, relation.stamps),
    }
    if relation.person is not None:
        person = relation.person
        ids = {"id": person.id, "email": person.email, "cio_id": person.cio_id}
        return ObjectRelationshipOut(identifiers=ids, **common)
    obj = relation.object
    assert obj is not None
    ids = _object_identifiers(obj).model_dump()
    return ObjectRelationshipOut(
        identifiers=ids, object_type_id=obj.type.type_id, type=obj.type.name, **common
    )


def _activity(activity: Activity, person: Person) -> ActivityOut:
    return ActivityOut(
        id=activity.id,
        type=activity.type,
        name=activity.name,
        timestamp=to_unix(activity.timestamp),
        customer_id=person.id,
        customer_identifiers=_identifiers(person),
        data=dict(activity.data),
        diff=_diff(activity.diff),
    )


def _change(entry: HistoryEntry) -> ChangeOut:
    change = entry.change
    counterpart = entry.counterpart
    return ChangeOut(
        seq=change.seq,
        at=to_unix(change.at),
        op=change.op,
        entity=change.entity,
        diff=_diff(entry.diff),
        data=dict(change.data),
        counterpart=None
        if counterpart is None
        else CounterpartOut(role=counterpart.role, identifiers=dict(counterpart.identifiers)),
    )


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
