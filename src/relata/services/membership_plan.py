"""What a segment's condition depends on, and when its truth can next change by time alone (pure).

- ``dependencies(condition, contract)``: the person attributes, event names, segment leaves and the
  *positions* (paths of hops from the person, with the object attributes read there) a condition
  reads. The membership engine matches each change-log row against them to find the segments a write
  can affect, and walks a position's path backwards from a changed object to find the people.
- ``next_flip(condition, snapshot, now, contract)``: the earliest instant after ``now`` at which a
  time-relative leaf (``within``, ``older_than``, an event window, a first/last occurrence window) can
  change its truth for this person, or None. It may be early (the leaf flips but the whole condition
  does not), never late: a re-check then finds nothing and schedules the next one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from relata.core.conditions.plan import plan_hop
from relata.core.conditions.scope import Scope, resolve
from relata.core.conditions.snapshot import LinkSnapshot, ObjectSnapshot, PersonSnapshot
from relata.core.conditions.tree import Attribute, Condition, Event, Message, Related, Segment, TriggerObject
from relata.core.conditions.values import as_time
from relata.core.conditions.walk import leaves
from relata.core.contract import PERSON, Contract
from relata.core.times import Millis

Step = tuple[str, str]  # (direction, target type ref) of one hop: person / down / up / both
RELATIVE = ("within", "older_than")


@dataclass(frozen=True)
class Position:
    """Objects reached by ``path`` from the person; ``fields`` are the attributes read on them."""

    path: tuple[Step, ...]
    fields: frozenset[str]


@dataclass
class Dependencies:
    person_fields: set[str] = field(default_factory=set)
    events: set[str] = field(default_factory=set)
    segments: set[str] = field(default_factory=set)
    positions: list[Position] = field(default_factory=list)
    time_relative: bool = False

    def reads_type(self, type_refs: Iterable[str]) -> list[Position]:
        refs = set(type_refs)
        return [p for p in self.positions if p.path[-1][1] in refs]


def dependencies(condition: Condition, contract: Contract) -> Dependencies:
    deps = Dependencies()
    resolved = resolve(condition, Scope())

    def data(condition: Condition) -> None:
        for item in leaves(condition):
            if isinstance(item, Attribute) and item.operator in RELATIVE:
                deps.time_relative = True

    def related(item: Related, from_type: str | None, path: tuple[Step, ...]) -> None:
        hop = plan_hop(contract, from_type, item)
        here = (*path, (hop.direction, hop.target))
        fields: set[str] = set()
        if item.aggregate is not None and item.aggregate.field is not None:
            fields.add(item.aggregate.field)
        if item.relationship_where is not None:
            data(item.relationship_where)
        if item.where is not None:
            on_object(item.where, hop.target_name, here, fields)
        deps.positions.append(Position(here, frozenset(fields)))

    def on_object(condition: Condition, type_: str | None, path: tuple[Step, ...], fields: set[str]) -> None:
        for item in leaves(condition):
            if isinstance(item, Attribute):
                fields.add(item.field)
                if item.operator in RELATIVE:
                    deps.time_relative = True
            elif isinstance(item, Related):
                related(item, type_, path)

    def on_person(condition: Condition) -> None:
        for item in leaves(condition):
            if isinstance(item, Attribute):
                deps.person_fields.add(item.field)
                if item.operator in RELATIVE:
                    deps.time_relative = True
            elif isinstance(item, Message):
                on_person(item.to_event())
            elif isinstance(item, Event):
                deps.events.add(item.name)
                if item.within is not None or item.operator in RELATIVE:
                    deps.time_relative = True
                if item.where is not None:
                    data(item.where)
            elif isinstance(item, Related):
                related(item, PERSON, ())
            elif isinstance(item, Segment):
                deps.segments.add(item.id)
            else:
                assert isinstance(item, TriggerObject)  # no trigger object in a segment: always false

    on_person(resolved)
    return deps


def segment_ids(condition: Condition) -> set[str]:
    """The segments a condition names in ``segment`` leaves."""
    return {item.id for item in leaves(condition) if isinstance(item, Segment)}


def next_flip(condition: Condition, person: PersonSnapshot, now: Millis, contract: Contract) -> Millis | None:
    """The first instant after ``now`` at which a time-relative leaf may change for ``person``."""
    moments: set[float] = set()

    def leaf(operator: str | None, width: Any, moment: float | None) -> None:
        if moment is None or operator not in RELATIVE or not isinstance(width, int):
            return
        if operator == "within":  # true while moment <= now <= moment + width
            moments.add(moment)
        moments.add(moment + width + 1)

    def data(condition: Condition, attributes: Mapping[str, Any]) -> None:
        for item in leaves(condition):
            if isinstance(item, Attribute):
                leaf(item.operator, item.value, as_time(attributes.get(item.field)))

    def links(item: Related, from_type: str | None, found: Iterable[LinkSnapshot]) -> None:
        hop = plan_hop(contract, from_type, item)
        for link in found:
            if not link.object.is_type(hop.target):
                continue
            if item.relationship_where is not None:
                data(item.relationship_where, link.attributes)
            if item.where is not None:
                on_object(item.where, link.object, hop.target_name)

    def on_object(condition: Condition, target: ObjectSnapshot, type_: str | None) -> None:
        for item in leaves(condition):
            if isinstance(item, Attribute):
                leaf(item.operator, item.value, as_time(target.attributes.get(item.field)))
            elif isinstance(item, Related):
                hop = plan_hop(contract, type_, item)
                reached = {
                    "down": target.children,
                    "up": target.parents,
                }.get(hop.direction, target.children + target.parents)
                links(item, type_, reached)

    def on_person(condition: Condition) -> None:
        for item in leaves(condition):
            if isinstance(item, Attribute):
                leaf(item.operator, item.value, as_time(person.attributes.get(item.field)))
            elif isinstance(item, Message):
                on_person(item.to_event())
            elif isinstance(item, Event):
                for event in person.events:
                    if event.name != item.name:
                        continue
                    if item.within is not None:
                        leaf("within", item.within, float(event.timestamp))
                    if item.occurrence is not None:
                        leaf(item.operator, item.value, float(event.timestamp))
                    if item.where is not None:
                        data(item.where, event.data)
            elif isinstance(item, Related):
                links(item, PERSON, person.objects)

    on_person(resolve(condition, Scope()))
    later = [m for m in moments if m > now]
    return math.ceil(min(later)) if later else None
