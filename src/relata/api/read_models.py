"""Response models of the App API reads, and their conversions from domain values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field

from relata.core.model import Device, Person, StoredObject
from relata.core.times import Millis, to_unix
from relata.services.history import Activity, HistoryEntry
from relata.services.profiles import Node, Related
from relata.services.reads import ObjectRelation, PersonDetails

Json = dict[str, Any]


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
