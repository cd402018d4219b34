"""Load the ``PersonSnapshot`` the per-person evaluator needs for one condition — and nothing more.

The condition is walked the way the evaluator walks it: the event names it tests, the hops it makes
(direction and type, level by level), the segments and the trigger object it reads. Each level of
hops is one query for all the objects of the level above.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, and_, literal, or_, select

from relata.core.conditions.plan import plan_hop
from relata.core.conditions.scope import Scope, resolve
from relata.core.conditions.snapshot import EventSnapshot, LinkSnapshot, ObjectSnapshot, PersonSnapshot
from relata.core.conditions.tree import Attribute, Condition, Event, Related, Segment, TriggerObject
from relata.core.conditions.walk import leaves
from relata.core.contract import EMPTY, PERSON, Contract
from relata.core.times import Millis
from relata.storage.conditions_sql import ConditionCompiler, SegmentSource
from relata.storage.conditions_values import prepare
from relata.storage.schema import events, object_links, object_types, objects, people, person_links


@dataclass
class Needs:
    """Hops to follow from one level: ``(direction, type)`` → what the objects reached need in turn."""

    hops: dict[tuple[str, str], Needs] = field(default_factory=dict)

    def add(self, direction: str, target: str) -> Needs:
        return self.hops.setdefault((direction, target), Needs())

    def merged(self, others: Iterable[Needs]) -> Needs:
        result = Needs()
        for other in (self, *others):
            for key, sub in other.hops.items():
                current = result.hops.get(key)
                result.hops[key] = sub if current is None else current.merged([sub])
        return result


@dataclass
class ConditionNeeds:
    event_names: set[str] = field(default_factory=set)
    person: Needs = field(default_factory=Needs)
    trigger: Needs = field(default_factory=Needs)
    segments: set[str] = field(default_factory=set)
    trigger_object: bool = False


def needs_of(
    condition: Condition, contract: Contract = EMPTY, trigger_type: str | None = None
) -> ConditionNeeds:
    """What evaluating a resolved ``condition`` reads."""
    found = ConditionNeeds()

    def on_object(condition: Condition, needs: Needs, type_: str | None) -> None:
        for item in leaves(condition):
            if isinstance(item, Related):
                hop = plan_hop(contract, type_, item)
                deeper = needs.add(hop.direction, hop.target)
                if item.where is not None:
                    on_object(item.where, deeper, hop.target_name)

    for item in leaves(condition):
        if isinstance(item, Event):
            found.event_names.add(item.name)
        elif isinstance(item, Related):
            on_object(item, found.person, PERSON)
        elif isinstance(item, Segment):
            found.segments.add(item.id)
        elif isinstance(item, TriggerObject):
            found.trigger_object = True
            on_object(item.condition, found.trigger, trigger_type)
        else:
            assert isinstance(item, Attribute)
    return found


_ObjectRow = tuple[int, str, str, str, Mapping[str, Any]]  # pk, type_id, type name, object_id, attributes


def _type_filter(workspace_id: int, targets: Iterable[str]) -> Any:
    names = sorted(set(targets))
    return objects.c.type_pk.in_(
        select(object_types.c.id).where(
            object_types.c.workspace_id == workspace_id,
            or_(object_types.c.name.in_(names), object_types.c.type_id.in_(names)),
        )
    )


def _object_columns() -> list[Any]:
    return [
        objects.c.pk,
        object_types.c.type_id,
        object_types.c.name,
        objects.c.object_id,
        objects.c.attributes,
    ]


def _expand(
    conn: Connection, workspace_id: int, needs: Needs, rows: list[_ObjectRow]
) -> list[ObjectSnapshot]:
    """Snapshots of the objects ``rows`` with the links ``needs`` follows, recursively."""
    if not rows:
        return []
    pks = [row[0] for row in rows]
    children: dict[int, list[tuple[Mapping[str, Any], _ObjectRow]]] = {pk: [] for pk in pks}
    parents: dict[int, list[tuple[Mapping[str, Any], _ObjectRow]]] = {pk: [] for pk in pks}
    deeper: dict[str, Needs] = {}
    for direction, own, other, found in (
        ("down", object_links.c.parent_pk, object_links.c.child_pk, children),
        ("up", object_links.c.child_pk, object_links.c.parent_pk, parents),
    ):
        keys = [key for key in needs.hops if key[0] in (direction, "both")]
        if not keys:
            continue
        deeper[direction] = Needs().merged(needs.hops[key] for key in keys)
        query = (
            select(own, object_links.c.attributes, *_object_columns())
            .select_from(
                object_links.join(objects, objects.c.pk == other).join(
                    object_types, object_types.c.id == objects.c.type_pk
                )
            )
            .where(own.in_(pks), _type_filter(workspace_id, (key[1] for key in keys)))
            .order_by(own, objects.c.pk)
        )
        for row in conn.execute(query):
            found[row[0]].append((row[1], (row[2], row[3], row[4], row[5], row[6])))
    built: dict[str, dict[int, ObjectSnapshot]] = {}
    for direction, found in (("down", children), ("up", parents)):
        if direction in deeper:
            reached = {target[0]: target for links in found.values() for _, target in links}
            built[direction] = {
                obj.pk: obj for obj in _expand(conn, workspace_id, deeper[direction], list(reached.values()))
            }
    result = []
    for pk, type_id, type_name, object_id, attributes in rows:
        result.append(
            ObjectSnapshot(
                pk,
                type_id,
                type_name,
                object_id,
                attributes,
                children=tuple(
                    LinkSnapshot(built["down"][target[0]], attrs) for attrs, target in children[pk]
                )
                if "down" in built
                else (),
                parents=tuple(LinkSnapshot(built["up"][target[0]], attrs) for attrs, target in parents[pk])
                if "up" in built
                else (),
            )
        )
    return result


def load_snapshot(
    conn: Connection,
    condition: Condition,
    *,
    workspace_id: int,
    person_pk: int,
    now: Millis,
    scope: Scope | None = None,
    contract: Contract = EMPTY,
    segments: SegmentSource | None = None,
) -> PersonSnapshot | None:
    """The snapshot of ``person_pk`` that ``evaluate(condition, …)`` needs (None: no such person)."""
    scope = scope or Scope()
    prepare(conn)
    needs = needs_of(resolve(condition, scope), contract, scope.trigger_type)
    row = conn.execute(
        select(people.c.pk, people.c.attributes, people.c.ident, people.c.email, people.c.cio_id).where(
            people.c.pk == person_pk, people.c.workspace_id == workspace_id
        )
    ).first()
    if row is None:
        return None
    found_events: tuple[EventSnapshot, ...] = ()
    if needs.event_names:
        found_events = tuple(
            EventSnapshot(name, timestamp, data)
            for name, timestamp, data in conn.execute(
                select(events.c.name, events.c.timestamp, events.c.data)
                .where(events.c.person_pk == person_pk, events.c.name.in_(sorted(needs.event_names)))
                .order_by(events.c.timestamp, events.c.pk)
            )
        )
    linked: tuple[LinkSnapshot, ...] = ()
    if needs.person.hops:
        rows = conn.execute(
            select(person_links.c.attributes, *_object_columns())
            .select_from(
                person_links.join(objects, objects.c.pk == person_links.c.object_pk).join(
                    object_types, object_types.c.id == objects.c.type_pk
                )
            )
            .where(
                person_links.c.person_pk == person_pk,
                _type_filter(workspace_id, (key[1] for key in needs.person.hops)),
            )
            .order_by(objects.c.pk)
        ).all()
        deeper = Needs().merged(needs.person.hops.values())
        built = {obj.pk: obj for obj in _expand(conn, workspace_id, deeper, [tuple(r[1:]) for r in rows])}
        linked = tuple(LinkSnapshot(built[r[1]], r[0]) for r in rows)
    trigger: ObjectSnapshot | None = None
    if needs.trigger_object and scope.trigger_object_pk is not None:
        target = conn.execute(
            select(*_object_columns())
            .select_from(objects.join(object_types, object_types.c.id == objects.c.type_pk))
            .where(objects.c.pk == scope.trigger_object_pk, objects.c.workspace_id == workspace_id)
        ).first()
        if target is not None:
            (trigger,) = _expand(conn, workspace_id, needs.trigger, [tuple(target)])
    member_of: frozenset[str] = frozenset()
    if needs.segments:
        compiler = ConditionCompiler(
            conn.dialect.name, workspace_id, now, contract=contract, segments=segments
        )
        member_of = frozenset(
            segment
            for segment in sorted(needs.segments)
            if conn.execute(_membership(compiler, segment, person_pk)).first() is not None
        )
    return PersonSnapshot(
        pk=row.pk,
        attributes=row.attributes,
        id=row.ident,
        email=row.email,
        cio_id=row.cio_id,
        objects=linked,
        events=found_events,
        segments=member_of,
        trigger_object=trigger,
    )


def _membership(compiler: ConditionCompiler, segment_id: str, person_pk: int) -> Any:
    person = people.alias("p")
    test = compiler.predicate(Segment(segment_id), person)
    return select(literal(1)).select_from(person).where(and_(person.c.pk == person_pk, test))
