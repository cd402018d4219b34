"""Read queries for the App API: relationships loaded a level at a time, keyset pages, JSON filters.

Every query is scoped to one workspace. Relationship loaders take a *set* of starting rows and return
every link of all of them in one statement, so that expanding a profile costs one query per level no
matter how many objects a level holds. Pages are keyset pages: the caller passes the key of the last
row it has seen and gets the rows after it.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import (
    Boolean,
    ColumnElement,
    Connection,
    Select,
    String,
    and_,
    cast,
    false,
    func,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB

from relata.core.model import Event, ObjectType, Person, StoredObject
from relata.core.times import Millis
from relata.storage.objects import object_from_row
from relata.storage.people import person_from_row
from relata.storage.schema import (
    changes,
    events,
    object_links,
    object_types,
    objects,
    people,
    person_links,
)


@dataclass(frozen=True)
class LinkedObject:
    """An object at the far end of a relationship that starts at ``start`` (a person or object pk)."""

    start: int
    object: StoredObject
    attributes: Mapping[str, Any]
    stamps: Mapping[str, Millis]
    created_at: Millis


@dataclass(frozen=True)
class LinkedPerson:
    person: Person
    attributes: Mapping[str, Any]
    stamps: Mapping[str, Millis]
    created_at: Millis


# --- relationships, a level at a time ---------------------------------------------------------------


def _with_type(query: Select[Any]) -> Select[Any]:
    return query.add_columns(
        object_types.c.id.label("t_id"),
        object_types.c.type_id.label("t_type_id"),
        object_types.c.name.label("t_name"),
    ).join(object_types, object_types.c.id == objects.c.type_pk)


def _linked_object(row: Any) -> LinkedObject:
    obj = object_from_row(row, ObjectType(row.t_id, row.t_type_id, row.t_name))
    return LinkedObject(row.l_start, obj, row.l_attributes, row.l_stamps, row.l_created_at)


def _links_query(start: Any, end: Any, table: Any) -> Select[Any]:
    query = select(
        objects,
        start.label("l_start"),
        table.c.attributes.label("l_attributes"),
        table.c.stamps.label("l_stamps"),
        table.c.created_at.label("l_created_at"),
    ).join(table, end == objects.c.pk)
    return _with_type(query)


def objects_of_people(
    conn: Connection,
    workspace_id: int,
    person_pks: Collection[int],
    *,
    after: int | None = None,
    limit: int | None = None,
) -> list[LinkedObject]:
    """The objects related to any of ``person_pks``, ordered by (person, object)."""
    if not person_pks:
        return []
    query = _links_query(person_links.c.person_pk, person_links.c.object_pk, person_links).where(
        person_links.c.workspace_id == workspace_id, person_links.c.person_pk.in_(sorted(person_pks))
    )
    if after is not None:
        query = query.where(person_links.c.object_pk > after)
    query = query.order_by(person_links.c.person_pk, person_links.c.object_pk)
    if limit is not None:
        query = query.limit(limit)
    return [_linked_object(r) for r in conn.execute(query)]


def children_of(
    conn: Connection,
    workspace_id: int,
    parent_pks: Collection[int],
    *,
    after: int | None = None,
    limit: int | None = None,
) -> list[LinkedObject]:
    """Child objects of any of ``parent_pks`` (``start`` is the parent), ordered by (parent, child)."""
    if not parent_pks:
        return []
    query = _links_query(object_links.c.parent_pk, object_links.c.child_pk, object_links).where(
        object_links.c.workspace_id == workspace_id, object_links.c.parent_pk.in_(sorted(parent_pks))
    )
    if after is not None:
        query = query.where(object_links.c.child_pk > after)
    query = query.order_by(object_links.c.parent_pk, object_links.c.child_pk)
    if limit is not None:
        query = query.limit(limit)
    return [_linked_object(r) for r in conn.execute(query)]


def parents_of(
    conn: Connection,
    workspace_id: int,
    child_pk: int,
    *,
    after: int | None = None,
    limit: int | None = None,
) -> list[LinkedObject]:
    """Parent objects of ``child_pk`` (``start`` is the child), ordered by parent."""
    query = _links_query(object_links.c.child_pk, object_links.c.parent_pk, object_links).where(
        object_links.c.workspace_id == workspace_id, object_links.c.child_pk == child_pk
    )
    if after is not None:
        query = query.where(object_links.c.parent_pk > after)
    query = query.order_by(object_links.c.parent_pk)
    if limit is not None:
        query = query.limit(limit)
    return [_linked_object(r) for r in conn.execute(query)]


def people_of_object(
    conn: Connection,
    workspace_id: int,
    object_pk: int,
    *,
    after: int | None = None,
    limit: int | None = None,
) -> list[LinkedPerson]:
    """The people related to an object, ordered by person."""
    query = (
        select(
            people,
            person_links.c.attributes.label("l_attributes"),
            person_links.c.stamps.label("l_stamps"),
            person_links.c.created_at.label("l_created_at"),
        )
        .join(person_links, person_links.c.person_pk == people.c.pk)
        .where(person_links.c.workspace_id == workspace_id, person_links.c.object_pk == object_pk)
    )
    if after is not None:
        query = query.where(person_links.c.person_pk > after)
    query = query.order_by(person_links.c.person_pk)
    if limit is not None:
        query = query.limit(limit)
    return [
        LinkedPerson(person_from_row(r), r.l_attributes, r.l_stamps, r.l_created_at)
        for r in conn.execute(query)
    ]


def count_people_of_object(conn: Connection, workspace_id: int, object_pk: int) -> int:
    return int(
        conn.execute(
            select(func.count()).where(
                person_links.c.workspace_id == workspace_id, person_links.c.object_pk == object_pk
            )
        ).scalar_one()
    )


def count_parents_of(conn: Connection, workspace_id: int, child_pk: int) -> int:
    return int(
        conn.execute(
            select(func.count()).where(
                object_links.c.workspace_id == workspace_id, object_links.c.child_pk == child_pk
            )
        ).scalar_one()
    )


def people_by_pk(conn: Connection, workspace_id: int, pks: Collection[int]) -> dict[int, Person]:
    if not pks:
        return {}
    rows = conn.execute(select(people).where(people.c.workspace_id == workspace_id, people.c.pk.in_(pks)))
    return {r.pk: person_from_row(r) for r in rows}


# --- objects by filter ------------------------------------------------------------------------------


def has_key(dialect: str, column: Any, key: str) -> ColumnElement[bool]:
    """The JSON document in ``column`` has ``key``; never NULL, so it can be negated."""
    if dialect == "postgresql":
        return column.op("?", return_type=Boolean)(literal(key, String))  # type: ignore[no-any-return]
    return func.json_type(column, _sqlite_path(key)).is_not(None)


def equals(dialect: str, column: Any, key: str, value: Any) -> ColumnElement[bool]:
    """``column[key]`` equals ``value``, where a string also matches what it spells: ``"42"`` matches the
    number 42 and ``"true"`` the boolean true, as Customer.io's filters (whose values are strings) do."""
    candidates = _candidates(value)
    if dialect == "postgresql":
        element = column.op("->", return_type=JSONB)(literal(key, String))
        return or_(*(element == cast(literal(_json_text(c), String), JSONB) for c in candidates))
    path = _sqlite_path(key)
    kind = func.json_type(column, path)
    found = func.json_extract(column, path)
    tests: list[ColumnElement[bool]] = []
    for candidate in candidates:
        if isinstance(candidate, bool):
            tests.append(kind == ("true" if candidate else "false"))
        elif isinstance(candidate, int | float):
            tests.append(and_(kind.in_(("integer", "real")), found == candidate))
        else:
            tests.append(and_(kind == "text", found == candidate))
    return or_(*tests)


_INTEGER = re.compile(r"-?[0-9]{1,18}")
_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?")


def _candidates(value: str | int | float | bool) -> list[str | int | float | bool]:
    """The JSON values a filter value stands for."""
    if isinstance(value, bool):
        return [value, "true" if value else "false"]
    if isinstance(value, int | float):
        return [value, str(value)]
    found: list[str | int | float | bool] = [value]
    if value.lower() in ("true", "false"):
        found.append(value.lower() == "true")
    elif _INTEGER.fullmatch(value):
        found.append(int(value))
    elif _DECIMAL.fullmatch(value):
        found.append(float(value))
    return found


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


def _sqlite_path(key: str) -> str:
    """A JSON path naming one key; keys holding ``"`` or ``\\`` are refused by the filter parser."""
    return '$."' + key + '"'


@dataclass(frozen=True)
class AttributeTest:
    """An attribute exists (``value`` is None) or equals ``value``."""

    field: str
    value: str | int | float | bool | None = None


@dataclass(frozen=True)
class AllOf:
    parts: tuple[ObjectFilter, ...]


@dataclass(frozen=True)
class AnyOf:
    parts: tuple[ObjectFilter, ...]


@dataclass(frozen=True)
class Not:
    part: ObjectFilter


ObjectFilter = AttributeTest | AllOf | AnyOf | Not


def filter_condition(dialect: str, tree: ObjectFilter) -> ColumnElement[bool]:
    """SQL for an object filter over ``objects.attributes``."""
    column = objects.c.attributes
    match tree:
        case AttributeTest(field, None):
            return has_key(dialect, column, field)
        case AttributeTest(field, value):
            assert value is not None
            return and_(has_key(dialect, column, field), equals(dialect, column, field, value))
        case AllOf(parts):
            return and_(true(), *(filter_condition(dialect, p) for p in parts))
        case AnyOf(parts):
            return or_(false(), *(filter_condition(dialect, p) for p in parts))
        case Not(part):
            return ~filter_condition(dialect, part)
    raise TypeError(tree)


def objects_page(
    conn: Connection,
    workspace_id: int,
    type_pk: int,
    tree: ObjectFilter | None,
    *,
    after: int | None,
    limit: int,
) -> list[StoredObject]:
    """Objects of one type matching the filter ``tree``, by pk, after the pk ``after``."""
    condition = None if tree is None else filter_condition(conn.dialect.name, tree)
    query = _with_type(select(objects)).where(
        objects.c.workspace_id == workspace_id, objects.c.type_pk == type_pk
    )
    if condition is not None:
        query = query.where(condition)
    if after is not None:
        query = query.where(objects.c.pk > after)
    rows = conn.execute(query.order_by(objects.c.pk).limit(limit))
    return [object_from_row(r, ObjectType(r.t_id, r.t_type_id, r.t_name)) for r in rows]


# --- people search ----------------------------------------------------------------------------------


def people_page(
    conn: Connection,
    workspace_id: int,
    *,
    id_prefix: str | None,
    email_prefix: str | None,
    after: int | None,
    limit: int,
) -> list[Person]:
    """People whose id and/or email start with the given prefixes (email case-insensitively), by pk."""
    query = select(people).where(people.c.workspace_id == workspace_id)
    if id_prefix is not None:
        query = query.where(people.c.ident.startswith(id_prefix, autoescape=True))
    if email_prefix is not None:
        query = query.where(people.c.email_key.startswith(email_prefix.strip().lower(), autoescape=True))
    if after is not None:
        query = query.where(people.c.pk > after)
    return [person_from_row(r) for r in conn.execute(query.order_by(people.c.pk).limit(limit))]


# --- activities: the change log and events, newest first -------------------------------------------

ActivityKey = tuple[Millis, int, int]
"""(time, stream, id): activities are ordered by this key, descending. Events are stream 0, changes 1."""


def _before(
    time: ColumnElement[Any], stream: int, ident: ColumnElement[Any], key: ActivityKey | None
) -> ColumnElement[bool]:
    """Rows of stream ``stream`` that sort after ``key`` in (time, stream, id) descending order."""
    if key is None:
        return true()
    at, key_stream, key_id = key
    if stream < key_stream:
        return time <= at
    if stream > key_stream:
        return time < at
    return or_(time < at, and_(time == at, ident < key_id))


def person_events(
    conn: Connection,
    workspace_id: int,
    person_pk: int,
    *,
    types: Sequence[str] | None,
    before: ActivityKey | None,
    limit: int,
) -> list[Event]:
    query = select(events).where(
        events.c.workspace_id == workspace_id,
        events.c.person_pk == person_pk,
        _before(events.c.timestamp, 0, events.c.pk, before),
    )
    if types is not None:
        query = query.where(events.c.type.in_(types))
    rows = conn.execute(query.order_by(events.c.timestamp.desc(), events.c.pk.desc()).limit(limit))
    return [
        Event(r.pk, r.person_pk, r.anonymous_id, r.name, r.type, r.data, r.timestamp, r.dedupe_id)
        for r in rows
    ]


CHANGE_ACTIVITIES = (
    "created",
    "attribute_change",
    "device_change",
    "add_relationship",
    "update_relationship",
    "delete_relationship",
    "merge",
    "anon_merge",
)


def change_activity_condition(dialect: str, activity: str) -> ColumnElement[bool]:
    """Which change-log rows are activities of type ``activity`` (one of ``CHANGE_ACTIVITIES``)."""
    data = changes.c.data
    device = or_(has_key(dialect, data, "device_added"), has_key(dialect, data, "device_removed"))
    anonymous = has_key(dialect, data, "anonymous_id")
    conditions: dict[str, ColumnElement[bool]] = {
        "created": changes.c.op == "create",
        "attribute_change": and_(changes.c.op == "update", ~device),
        "device_change": and_(changes.c.op == "update", device),
        "add_relationship": changes.c.op == "relationship_add",
        "update_relationship": changes.c.op == "relationship_change",
        "delete_relationship": changes.c.op == "relationship_remove",
        "merge": and_(changes.c.op == "merge", ~anonymous),
        "anon_merge": and_(changes.c.op == "merge", anonymous),
    }
    return conditions[activity]


def person_change_rows(
    conn: Connection,
    workspace_id: int,
    person_pk: int,
    *,
    condition: ColumnElement[bool],
    before: ActivityKey | None,
    limit: int,
) -> list[Any]:
    """Change-log rows of a person that are activities, newest first (``at``, then ``seq``)."""
    query = select(changes).where(
        changes.c.workspace_id == workspace_id,
        changes.c.person_pk == person_pk,
        condition,
        _before(changes.c.at, 1, changes.c.seq, before),
    )
    return list(conn.execute(query.order_by(changes.c.at.desc(), changes.c.seq.desc()).limit(limit)))


def type_counts(conn: Connection, workspace_id: int) -> list[tuple[ObjectType, int]]:
    """Every object type of the workspace with how many objects it has."""
    counts = (
        select(objects.c.type_pk, func.count().label("n"))
        .where(objects.c.workspace_id == workspace_id)
        .group_by(objects.c.type_pk)
        .subquery()
    )
    rows = conn.execute(
        select(object_types, func.coalesce(counts.c.n, 0).label("n"))
        .outerjoin(counts, counts.c.type_pk == object_types.c.id)
        .where(object_types.c.workspace_id == workspace_id)
        .order_by(object_types.c.id)
    )
    return [(ObjectType(r.id, r.type_id, r.name), int(r.n)) for r in rows]
