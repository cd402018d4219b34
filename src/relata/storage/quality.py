"""Data-quality queries (SPEC §4): dangling relationships, aged objects, missing attributes, conflicts.

One query text for SQLite and PostgreSQL; the JSON functions that differ (``json_type``/``json_extract``
against ``jsonb_typeof``/``->``) are kept in the ``_Json`` helper at the top. Every query is scoped to one
workspace and returns a count plus a few samples.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Float,
    and_,
    case,
    cast,
    false,
    func,
    literal,
    literal_column,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB

from relata.core.errors import ValidationError
from relata.core.model import ObjectType
from relata.core.quality import AllOf, AnyOf, AttributeTest, When
from relata.core.times import Millis, parse_timestamp
from relata.storage.schema import anonymous_links, object_links, object_types, objects, people, person_links

SAMPLES = 5
# Unix seconds at or above this are milliseconds (as in ``relata.core.times.parse_timestamp``).
MS_THRESHOLD = 100_000_000_000


@dataclass(frozen=True)
class Found:
    """How many things a check found, and a few of them."""

    count: int = 0
    samples: list[dict[str, Any]] = field(default_factory=list)


class _Json:
    """JSON attribute access that reads the same on SQLite (JSON text) and PostgreSQL (JSONB)."""

    def __init__(self, conn: Connection) -> None:
        self.pg = conn.dialect.name == "postgresql"

    def _path(self, name: str) -> str:
        return '$."' + name + '"'

    def kind(self, column: Column[Any], name: str) -> ColumnElement[Any]:
        """The JSON type of an attribute: SQLite integer/real/text/true/false…, PostgreSQL number/string…"""
        if self.pg:
            return func.jsonb_typeof(column[name])
        return func.json_type(column, self._path(name))

    def present(self, column: Column[Any], name: str) -> ColumnElement[bool]:
        kind = self.kind(column, name)
        return and_(kind.is_not(None), kind != "null")

    def is_number(self, column: Column[Any], name: str) -> ColumnElement[bool]:
        kind = self.kind(column, name)
        return kind == "number" if self.pg else kind.in_(("integer", "real"))

    def is_string(self, column: Column[Any], name: str) -> ColumnElement[bool]:
        return self.kind(column, name) == ("string" if self.pg else "text")

    def number(self, column: Column[Any], name: str) -> ColumnElement[Any]:
        """The attribute as a number, NULL when it is absent or not a number."""
        raw: ColumnElement[Any] = (
            cast(column[name].as_string(), Float) if self.pg else func.json_extract(column, self._path(name))
        )
        return case((self.is_number(column, name), raw), else_=None)

    def text(self, column: Column[Any], name: str) -> ColumnElement[Any]:
        return column[name].as_string() if self.pg else func.json_extract(column, self._path(name))

    def equals(self, column: Column[Any], name: str, value: Any) -> ColumnElement[bool]:
        """JSON equality with a literal: booleans equal booleans, numbers by value, strings by text.

        Never NULL (a missing attribute is simply not equal), so that ``NOT`` of it holds there.
        """
        if self.pg:
            test: ColumnElement[bool] = column[name] == cast(literal(json.dumps(value)), JSONB)
        elif isinstance(value, bool):
            test = self.kind(column, name) == ("true" if value else "false")
        elif isinstance(value, int | float):
            extracted = func.json_extract(column, self._path(name))
            test = and_(self.kind(column, name).in_(("integer", "real")), extracted == value)
        else:
            test = and_(
                self.kind(column, name) == "text", func.json_extract(column, self._path(name)) == str(value)
            )
        return func.coalesce(test, false())

    def empty(self, column: Column[Any]) -> ColumnElement[bool]:
        """An empty JSON object (an object never identified has no attribute stamps)."""
        if self.pg:
            return column == cast(literal("{}"), JSONB)
        return func.json(column) == literal_column("'{}'")

    def condition(self, column: Column[Any], when: When | None) -> ColumnElement[bool]:
        """A rule's ``when`` as SQL over ``column`` (negative operators hold on missing attributes)."""
        if when is None:
            return true()
        if isinstance(when, AllOf):
            return and_(*(self.condition(column, item) for item in when.items))
        if isinstance(when, AnyOf):
            return or_(*(self.condition(column, item) for item in when.items))
        assert isinstance(when, AttributeTest)
        if when.operator in ("exists", "not_exists"):
            positive = self.present(column, when.field)
        else:
            positive = (
                or_(*(self.equals(column, when.field, v) for v in when.values)) if when.values else false()
            )
        return not_(positive) if when.negated else positive


def _identified(json: _Json) -> ColumnElement[bool]:
    return not_(json.empty(objects.c.stamps))


def _person_label(row: Any) -> dict[str, Any]:
    return {"id": row.ident, "email": row.email, "cio_id": row.cio_id}


# --- dangling relationships ------------------------------------------------------------------------


def dangling(conn: Connection, workspace_id: int) -> dict[str, Found]:
    """Relationships to objects never identified (no attribute ever written), by the object's type."""
    json = _Json(conn)
    child = objects.alias("child")
    parent = objects.alias("parent")
    child_type = object_types.alias("child_type")
    parent_type = object_types.alias("parent_type")
    found: dict[str, tuple[int, list[dict[str, Any]]]] = {}

    def add(type_name: str, count: int, sample: dict[str, Any] | None) -> None:
        total, samples = found.get(type_name, (0, []))
        if sample is not None and len(samples) < SAMPLES:
            samples.append(sample)
        found[type_name] = (total + count, samples)

    person_rows = conn.execute(
        select(people.c.ident, people.c.email, people.c.cio_id, objects.c.object_id, object_types.c.name)
        .select_from(person_links)
        .join(objects, objects.c.pk == person_links.c.object_pk)
        .join(object_types, object_types.c.id == objects.c.type_pk)
        .join(people, people.c.pk == person_links.c.person_pk)
        .where(person_links.c.workspace_id == workspace_id, json.empty(objects.c.stamps))
        .order_by(object_types.c.name, objects.c.object_id)
    )
    for row in person_rows:
        add(
            row.name,
            1,
            {"from": {"person": _person_label(row)}, "to": _object_label(row.name, row.object_id)},
        )
    anonymous_rows = conn.execute(
        select(anonymous_links.c.anonymous_id, objects.c.object_id, object_types.c.name)
        .select_from(anonymous_links)
        .join(objects, objects.c.pk == anonymous_links.c.object_pk)
        .join(object_types, object_types.c.id == objects.c.type_pk)
        .where(anonymous_links.c.workspace_id == workspace_id, json.empty(objects.c.stamps))
        .order_by(object_types.c.name, objects.c.object_id)
    )
    for visitor in anonymous_rows:
        add(
            visitor.name,
            1,
            {
                "from": {"anonymous_id": visitor.anonymous_id},
                "to": _object_label(visitor.name, visitor.object_id),
            },
        )
    object_rows = conn.execute(
        select(
            parent.c.object_id.label("parent_id"),
            parent_type.c.name.label("parent_type"),
            json.empty(parent.c.stamps).label("parent_dangling"),
            child.c.object_id.label("child_id"),
            child_type.c.name.label("child_type"),
            json.empty(child.c.stamps).label("child_dangling"),
        )
        .select_from(object_links)
        .join(parent, parent.c.pk == object_links.c.parent_pk)
        .join(child, child.c.pk == object_links.c.child_pk)
        .join(parent_type, parent_type.c.id == parent.c.type_pk)
        .join(child_type, child_type.c.id == child.c.type_pk)
        .where(
            object_links.c.workspace_id == workspace_id,
            or_(json.empty(parent.c.stamps), json.empty(child.c.stamps)),
        )
        .order_by(child_type.c.name, child.c.object_id)
    )
    for pair in object_rows:
        sample = {
            "from": _object_label(pair.parent_type, pair.parent_id),
            "to": _object_label(pair.child_type, pair.child_id),
        }
        add(pair.child_type if pair.child_dangling else pair.parent_type, 1, sample)
    return {name: Found(count, samples) for name, (count, samples) in sorted(found.items())}


def _object_label(type_name: str, object_id: str) -> dict[str, str]:
    return {"type": type_name, "object_id": object_id}


# --- aged objects: freshness and expire ------------------------------------------------------------


def _stamp_ms(json: _Json, attribute: str) -> ColumnElement[Any]:
    """The rule attribute in milliseconds (unix seconds or milliseconds), or the row's updated_at."""
    number = json.number(objects.c.attributes, attribute)
    return case(
        (number >= MS_THRESHOLD, number),
        (number.is_not(None), number * 1000),
        (not_(json.present(objects.c.attributes, attribute)), objects.c.updated_at),
        else_=None,
    )


def aged(
    conn: Connection,
    workspace_id: int,
    object_type: ObjectType,
    attribute: str,
    when: When | None,
    cutoff: Millis,
    *,
    exclude: Mapping[str, Any] | None = None,
    limit: int | None = SAMPLES,
) -> tuple[int, list[dict[str, Any]]]:
    """Identified objects of a type whose ``attribute`` is older than ``cutoff`` while ``when`` holds.

    Numbers (unix seconds or milliseconds) and a missing attribute (the row's ``updated_at``) are
    compared in SQL; string values (ISO-8601, written before the contract declared a timestamp) are
    parsed here. ``exclude`` skips objects that already have all those attribute values.
    Returns the count and up to ``limit`` of them (all when ``limit`` is None) as
    ``{"object_id", "at"}`` with ``at`` in milliseconds.
    """
    json = _Json(conn)
    where = [
        objects.c.workspace_id == workspace_id,
        objects.c.type_pk == object_type.pk,
        _identified(json),
        json.condition(objects.c.attributes, when),
    ]
    if exclude:
        where.append(
            not_(and_(*(json.equals(objects.c.attributes, name, value) for name, value in exclude.items())))
        )
    stamp = _stamp_ms(json, attribute)
    in_sql = and_(*where, stamp < cutoff)
    count = int(conn.execute(select(func.count()).select_from(objects).where(in_sql)).scalar_one())
    query = select(objects.c.object_id, stamp.label("at")).where(in_sql).order_by(stamp, objects.c.object_id)
    samples = [
        {"object_id": r.object_id, "at": int(r.at)}
        for r in conn.execute(query if limit is None else query.limit(limit))
    ]
    strings = conn.execute(
        select(objects.c.object_id, json.text(objects.c.attributes, attribute).label("value"))
        .where(*where, json.is_string(objects.c.attributes, attribute))
        .order_by(objects.c.object_id)
    )
    for row in strings:
        try:
            at = parse_timestamp(row.value, attribute)
        except ValidationError:
            continue
        if at < cutoff:
            count += 1
            if limit is None or len(samples) < limit:
                samples.append({"object_id": row.object_id, "at": at})
    return count, samples


# --- required attributes and exclusive relationships -----------------------------------------------


def missing(conn: Connection, workspace_id: int, object_type: ObjectType, attribute: str) -> Found:
    """Identified objects of a type without ``attribute`` (never-identified ones are dangling)."""
    json = _Json(conn)
    where = and_(
        objects.c.workspace_id == workspace_id,
        objects.c.type_pk == object_type.pk,
        _identified(json),
        not_(json.present(objects.c.attributes, attribute)),
    )
    count = int(conn.execute(select(func.count()).select_from(objects).where(where)).scalar_one())
    rows = conn.execute(select(objects.c.object_id).where(where).order_by(objects.c.object_id).limit(SAMPLES))
    return Found(count, [{"object_id": r.object_id} for r in rows])


def exclusive_conflicts(conn: Connection, workspace_id: int, object_type: ObjectType) -> Found:
    """People related to more than one object of an exclusive type."""
    per_person = (
        select(person_links.c.person_pk, func.count().label("n"))
        .join(objects, objects.c.pk == person_links.c.object_pk)
        .where(person_links.c.workspace_id == workspace_id, objects.c.type_pk == object_type.pk)
        .group_by(person_links.c.person_pk)
        .having(func.count() > 1)
        .subquery()
    )
    count = int(conn.execute(select(func.count()).select_from(per_person)).scalar_one())
    rows = conn.execute(
        select(people.c.ident, people.c.email, people.c.cio_id, per_person.c.n)
        .join(per_person, per_person.c.person_pk == people.c.pk)
        .order_by(per_person.c.n.desc(), people.c.pk)
        .limit(SAMPLES)
    ).all()
    samples = []
    for row in rows:
        ids = conn.execute(
            select(objects.c.object_id)
            .join(person_links, person_links.c.object_pk == objects.c.pk)
            .join(people, people.c.pk == person_links.c.person_pk)
            .where(people.c.cio_id == row.cio_id, objects.c.type_pk == object_type.pk)
            .where(people.c.workspace_id == workspace_id)
            .order_by(objects.c.object_id)
            .limit(10)
        ).scalars()
        samples.append({"person": _person_label(row), "count": int(row.n), "object_ids": list(ids)})
    return Found(count, samples)


# --- stored shapes, for the dry run ----------------------------------------------------------------


def link_pairs(conn: Connection, workspace_id: int) -> list[tuple[str, str, int]]:
    """Stored relationships counted by (from, to): ``person`` → type, and parent type → child type."""
    pairs: list[tuple[str, str, int]] = []
    rows = conn.execute(
        select(object_types.c.name, func.count())
        .select_from(person_links)
        .join(objects, objects.c.pk == person_links.c.object_pk)
        .join(object_types, object_types.c.id == objects.c.type_pk)
        .where(person_links.c.workspace_id == workspace_id)
        .group_by(object_types.c.name)
    )
    pairs += [("person", r[0], int(r[1])) for r in rows]
    parent, child = objects.alias("parent"), objects.alias("child")
    parent_type, child_type = object_types.alias("parent_type"), object_types.alias("child_type")
    rows = conn.execute(
        select(parent_type.c.name, child_type.c.name, func.count())
        .select_from(object_links)
        .join(parent, parent.c.pk == object_links.c.parent_pk)
        .join(child, child.c.pk == object_links.c.child_pk)
        .join(parent_type, parent_type.c.id == parent.c.type_pk)
        .join(child_type, child_type.c.id == child.c.type_pk)
        .where(object_links.c.workspace_id == workspace_id)
        .group_by(parent_type.c.name, child_type.c.name)
    )
    pairs += [(r[0], r[1], int(r[2])) for r in rows]
    return sorted(pairs)


def scan_objects(
    conn: Connection, workspace_id: int, type_pks: Sequence[int], batch: int = 1000
) -> Iterator[tuple[int, str, Mapping[str, Any]]]:
    """(type pk, object id, attributes) of every identified object of the types, streamed in batches."""
    if not type_pks:
        return
    json = _Json(conn)
    last = 0
    while True:
        rows = conn.execute(
            select(objects.c.pk, objects.c.type_pk, objects.c.object_id, objects.c.attributes)
            .where(
                objects.c.workspace_id == workspace_id,
                objects.c.type_pk.in_(list(type_pks)),
                objects.c.pk > last,
                _identified(json),
            )
            .order_by(objects.c.pk)
            .limit(batch)
        ).all()
        for row in rows:
            yield row.type_pk, row.object_id, row.attributes
        if len(rows) < batch:
            return
        last = rows[-1].pk


def scan_people(
    conn: Connection, workspace_id: int, batch: int = 1000
) -> Iterator[tuple[dict[str, Any], Mapping[str, Any]]]:
    """(label, attributes) of every person, streamed in batches."""
    last = 0
    while True:
        rows = conn.execute(
            select(people.c.pk, people.c.ident, people.c.email, people.c.cio_id, people.c.attributes)
            .where(people.c.workspace_id == workspace_id, people.c.pk > last)
            .order_by(people.c.pk)
            .limit(batch)
        ).all()
        for row in rows:
            yield _person_label(row), row.attributes
        if len(rows) < batch:
            return
        last = rows[-1].pk
