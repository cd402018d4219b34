"""What Relata stores: people, object types, objects, relationships, events, devices and changes.

These are frozen values built from rows by ``relata.storage``; nothing here touches a database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from relata.core.times import Millis

Attributes = Mapping[str, Any]


@dataclass(frozen=True)
class Workspace:
    id: int
    name: str
    timezone: str = "UTC"


@dataclass(frozen=True)
class Person:
    pk: int
    cio_id: str
    id: str | None
    email: str | None
    attributes: Attributes
    stamps: Mapping[str, Millis]
    created_at: Millis
    updated_at: Millis
    anonymous_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class ObjectType:
    pk: int
    type_id: str
    name: str


@dataclass(frozen=True)
class StoredObject:
    pk: int
    type: ObjectType
    object_id: str
    cio_object_id: str
    attributes: Attributes
    stamps: Mapping[str, Millis]
    created_at: Millis
    updated_at: Millis

    @property
    def identified(self) -> bool:
        """An object only ever named in a relationship, never identified with attributes, is dangling."""
        return bool(self.stamps)


@dataclass(frozen=True)
class Relationship:
    """A link from a person (or anonymous visitor, or parent object) to an object."""

    from_kind: Literal["person", "anonymous", "object"]
    from_pk: int | None
    from_anonymous_id: str | None
    object_pk: int
    attributes: Attributes
    created_at: Millis
    updated_at: Millis


@dataclass(frozen=True)
class Event:
    pk: int
    person_pk: int | None
    anonymous_id: str | None
    name: str
    type: str
    data: Attributes
    timestamp: Millis
    dedupe_id: str | None = None


@dataclass(frozen=True)
class Device:
    token: str
    platform: str | None
    last_used: Millis | None
    attributes: Attributes = field(default_factory=dict)


ChangeOp = Literal[
    "create",
    "update",
    "delete",
    "relationship_add",
    "relationship_change",
    "relationship_remove",
    "merge",
    "suppress",
    "unsuppress",
    "event",
]


@dataclass(frozen=True)
class Change:
    """One entry of the append-only change log (SPEC §2).

    ``entity`` is ``person`` or ``object``; for relationships ``object_pk`` is the related object and
    ``other_pk`` the parent object for object-to-object links. ``diff`` maps an attribute to
    ``[from, to]``.
    """

    seq: int
    at: Millis
    op: ChangeOp
    entity: Literal["person", "object"]
    person_pk: int | None
    object_pk: int | None
    other_pk: int | None
    diff: Mapping[str, Any]
    data: Mapping[str, Any]
