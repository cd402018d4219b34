"""What the per-person evaluator reads: one person with the events, related objects and segment
memberships a condition needs, loaded by ``relata.storage.conditions_load``.

Related objects form a tree, not a graph: each ``LinkSnapshot`` holds the relationship's attributes and
the object at its other end, and an object holds the links leaving it that the condition follows
(``children`` where it is the parent, ``parents`` where it is the child).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from relata.core.times import Millis


@dataclass(frozen=True)
class ObjectSnapshot:
    pk: int
    type_id: str
    type_name: str
    object_id: str
    attributes: Mapping[str, Any]
    children: tuple[LinkSnapshot, ...] = ()
    parents: tuple[LinkSnapshot, ...] = ()

    def is_type(self, ref: str) -> bool:
        return ref in (self.type_name, self.type_id)


@dataclass(frozen=True)
class LinkSnapshot:
    object: ObjectSnapshot
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EventSnapshot:
    name: str
    timestamp: Millis
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PersonSnapshot:
    pk: int
    attributes: Mapping[str, Any]
    id: str | None = None
    email: str | None = None
    cio_id: str | None = None
    objects: tuple[LinkSnapshot, ...] = ()
    events: tuple[EventSnapshot, ...] = ()
    segments: frozenset[str] = frozenset()
    trigger_object: ObjectSnapshot | None = None
