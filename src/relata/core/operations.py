"""The write operations every ingestion API is translated into (SPEC §3).

Track v1, Track v2 and Pipelines parse their wire payloads into these values; one service applies them.
Times are milliseconds; ``None`` means "when it is received".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from relata.core.identity import ObjectRef, PersonRef
from relata.core.times import Millis

Attributes = Mapping[str, Any]
EventType = Literal["event", "page", "screen"]


@dataclass(frozen=True)
class Anonymous:
    """An anonymous visitor, known only by ``anonymous_id`` until they are identified."""

    anonymous_id: str


Target = PersonRef | ObjectRef | Anonymous


@dataclass(frozen=True)
class Link:
    """One ``cio_relationships`` item: the other end and the relationship's attributes."""

    target: Target
    attributes: Attributes = field(default_factory=dict)


@dataclass(frozen=True)
class IdentifyPerson:
    person: PersonRef
    attributes: Attributes = field(default_factory=dict)
    timestamp: Millis | None = None
    anonymous_id: str | None = None
    update_only: bool = False
    links: tuple[Link, ...] = ()
    created_at: Millis | None = None


@dataclass(frozen=True)
class DeletePerson:
    person: PersonRef


@dataclass(frozen=True)
class SuppressPerson:
    person: PersonRef


@dataclass(frozen=True)
class UnsuppressPerson:
    person: PersonRef


@dataclass(frozen=True)
class MergePeople:
    primary: PersonRef
    secondary: PersonRef


@dataclass(frozen=True)
class TrackEvent:
    """An event for a person, or for an anonymous visitor when ``person`` is ``None``."""

    person: PersonRef | None
    anonymous_id: str | None
    name: str
    data: Attributes = field(default_factory=dict)
    type: EventType = "event"
    timestamp: Millis | None = None
    dedupe_id: str | None = None


@dataclass(frozen=True)
class PersonLinks:
    """Add or remove relationships from a person to objects."""

    person: PersonRef
    links: tuple[Link, ...]
    remove: bool = False
    timestamp: Millis | None = None


@dataclass(frozen=True)
class AddDevice:
    person: PersonRef
    token: str
    platform: str | None = None
    last_used: Millis | None = None
    attributes: Attributes = field(default_factory=dict)


@dataclass(frozen=True)
class DeleteDevice:
    person: PersonRef
    token: str


@dataclass(frozen=True)
class IdentifyObject:
    """Create or update an object; ``links`` are added (people, anonymous visitors, or child objects)."""

    object: ObjectRef
    attributes: Attributes = field(default_factory=dict)
    timestamp: Millis | None = None
    links: tuple[Link, ...] = ()


@dataclass(frozen=True)
class DeleteObject:
    object: ObjectRef


@dataclass(frozen=True)
class ObjectLinks:
    """Add or remove relationships from an object to people, anonymous visitors or child objects."""

    object: ObjectRef
    links: tuple[Link, ...]
    remove: bool = False
    timestamp: Millis | None = None


Operation = (
    IdentifyPerson
    | DeletePerson
    | SuppressPerson
    | UnsuppressPerson
    | MergePeople
    | TrackEvent
    | PersonLinks
    | AddDevice
    | DeleteDevice
    | IdentifyObject
    | DeleteObject
    | ObjectLinks
)
