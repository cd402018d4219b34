"""The set-based executor: a condition becomes one SQLAlchemy Core SELECT of matching ``people.pk``.

Every leaf is a predicate on the person row: attributes read the JSON column; events, related objects
and the trigger object are correlated ``EXISTS`` (or ``COUNT``/aggregate) subqueries that walk the
indexes ``events(person_pk, name, timestamp)``, ``person_links(person_pk, …)``,
``object_links(parent_pk, …)`` and ``object_links(child_pk)``. Predicates are never NULL, so ``not`` is
exact. The rules are those of ``relata.core.conditions`` (see docs/conditions.md); the dialect details
live in ``relata.storage.conditions_values``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import (
    Connection,
    Float,
    Select,
    and_,
    case,
    cast,
    false,
    func,
    literal,
    not_,
    or_,
    select,
)
from sqlalchemy.sql.selectable import FromClause

from relata.core.conditions.evaluate import bounds_hold
from relata.core.conditions.plan import PERSON_FIELDS, plan_hop
from relata.core.conditions.scope import Scope, resolve
from relata.core.conditions.tree import (
    NEGATIONS,
    ORDERING,
    And,
    Attribute,
    Bound,
    Condition,
    Event,
    Missing,
    Not,
    Or,
    Related,
    Segment,
    TriggerObject,
    Value,
)
from relata.core.conditions.values import as_number, as_time, between_kind, fold, order_kind
from relata.core.contract import EMPTY, PERSON, Contract
from relata.core.errors import ValidationError
from relata.core.times import Millis
from relata.storage.conditions_values import Bool, Expr, Sql, SqlValue, definitely, prepare
from relata.storage.schema import events, object_links, object_types, objects, people, person_links

_PERSON_COLUMNS = {"id": "ident", "email": "email", "cio_id": "cio_id"}


class SegmentSource(Protocol):
    """How a ``segment`` leaf is decided: a predicate on the person row ``person`` (a ``people`` alias)."""

    def predicate(self, segment_id: str, compiler: ConditionCompiler, person: FromClause) -> Bool: ...


class DefinedSegments:
    """Segments given by their conditions: a ``segment`` leaf is the segment's own condition, inlined.

    A segment that (through others) refers to itself is an error.
    """

    def __init__(self, definitions: Mapping[str, Condition]) -> None:
        self.definitions = dict(definitions)

    def predicate(self, segment_id: str, compiler: ConditionCompiler, person: FromClause) -> Bool:
        definition = self.definitions.get(segment_id)
        if definition is None:
            raise ValidationError("segment.id", f"unknown segment {segment_id!r}")
        return compiler.nested(segment_id, definition, person)


class ConditionCompiler:
    """Compiles conditions for one workspace at one ``now`` on one dialect."""

    def __init__(
        self,
        dialect: str,
        workspace_id: int,
        now: Millis,
        *,
        scope: Scope | None = None,
        contract: Contract = EMPTY,
        segments: SegmentSource | None = None,
    ) -> None:
        self.sql = Sql(dialect)
        self.workspace_id = workspace_id
        self.now = now
        self.scope = scope or Scope()
        self.contract = contract
        self.segments = segments
        self._stack: list[str] = []

    # --- entry points --------------------------------------------------------------------------------

    def people(self, condition: Condition) -> Select[Any]:
        """``SELECT people.pk`` of the workspace's people for whom ``condition`` holds."""
        person = people.alias("p")
        return select(person.c.pk).where(
            person.c.workspace_id == self.workspace_id, self.predicate(condition, person)
        )

    def predicate(self, condition: Condition, person: FromClause) -> Bool:
        """A never-NULL test of ``condition`` on the row of ``person`` (a ``people`` alias)."""
        return self._person(resolve(condition, self.scope), person)

    def nested(self, segment_id: str, condition: Condition, person: FromClause) -> Bool:
        """A segment's condition, inlined (with its refs resolved in an empty scope)."""
        if segment_id in self._stack:
            cycle = " → ".join([*self._stack, segment_id])
            raise ValidationError("segment.id", f"segments refer to each other in a cycle: {cycle}")
        self._stack.append(segment_id)
        try:
            return self._person(resolve(condition, Scope()), person)
        finally:
            self._stack.pop()

    # --- walking -------------------------------------------------------------------------------------

    def _person(self, condition: Condition, person: FromClause) -> Bool:
        if isinstance(condition, And):
            return and_(*(self._person(item, person) for item in condition.items))
        if isinstance(condition, Or):
            return or_(*(self._person(item, person) for item in condition.items))
        if isinstance(condition, Not):
            return not_(self._person(condition.item, person))
        if isinstance(condition, Attribute):
            column = _PERSON_COLUMNS.get(condition.field) if condition.field in PERSON_FIELDS else None
            value = (
                self.sql.column(person.c[column])
                if column is not None
                else self.sql.field(person.c.attributes, condition.field)
            )
            return self.attribute(condition, value)
        if isinstance(condition, Event):
            return self._event(condition, person)
        if isinstance(condition, Related):
            return self._related(condition, PERSON, person)
        if isinstance(condition, Segment):
            if self.segments is None:
                raise ValidationError(
                    "segment.id", f"segment {condition.id!r} cannot be evaluated here: no segments are known"
                )
            return self.segments.predicate(condition.id, self, person)
        if isinstance(condition, TriggerObject):
            pk = self.scope.trigger_object_pk
            if pk is None:
                return false()
            target = objects.alias()
            test = self._object(condition.condition, target, self.scope.trigger_type)
            return select(literal(1)).select_from(target).where(target.c.pk == pk, test).exists()
        raise TypeError(f"unresolved condition {condition!r}")

    def _object(self, condition: Condition, target: FromClause, type_: str | None) -> Bool:
        if isinstance(condition, And):
            return and_(*(self._object(item, target, type_) for item in condition.items))
        if isinstance(condition, Or):
            return or_(*(self._object(item, target, type_) for item in condition.items))
        if isinstance(condition, Not):
            return not_(self._object(condition.item, target, type_))
        if isinstance(condition, Attribute):
            value = (
                self.sql.column(target.c.object_id)
                if condition.field == "object_id"
                else self.sql.field(target.c.attributes, condition.field)
            )
            return self.attribute(condition, value)
        if isinstance(condition, Related):
            return self._related(condition, type_, target)
        raise TypeError(f"{condition!r} is not a condition on an object")

    def _data(self, condition: Condition, document: Expr) -> Bool:
        if isinstance(condition, And):
            return and_(*(self._data(item, document) for item in condition.items))
        if isinstance(condition, Or):
            return or_(*(self._data(item, document) for item in condition.items))
        if isinstance(condition, Not):
            return not_(self._data(condition.item, document))
        if isinstance(condition, Attribute):
            return self.attribute(condition, self.sql.field(document, condition.field))
        raise TypeError(f"{condition!r} is not a condition on data")

    # --- leaves --------------------------------------------------------------------------------------

    def attribute(self, condition: Attribute, value: SqlValue) -> Bool:
        """``evaluate.check_attribute`` in SQL."""
        operator = condition.operator
        positive = NEGATIONS.get(operator)
        if positive is not None:
            return not_(
                self.attribute(
                    Attribute(condition.field, positive, condition.value, condition.case_insensitive), value
                )
            )
        if operator == "exists":
            return definitely(value.present())
        literal_value = condition.value
        if isinstance(literal_value, Missing):
            return false()
        sql = self.sql
        insensitive = condition.case_insensitive
        test: Bool
        if operator == "eq":
            test = sql.equals(value, literal_value, insensitive)
        elif operator == "in":
            assert isinstance(literal_value, tuple)
            items = [item for item in literal_value if not isinstance(item, Missing)]
            if not items:
                return false()
            test = or_(*(sql.equals(value, item, insensitive) for item in items))
        elif operator == "contains":
            test = sql.contains(value, literal_value, insensitive)
        elif operator == "starts_with":
            if not isinstance(literal_value, str):
                return false()
            test = sql.starts_with(value, literal_value, insensitive)
        elif operator == "ends_with":
            if not isinstance(literal_value, str):
                return false()
            test = sql.ends_with(value, literal_value, insensitive)
        elif operator in ORDERING:
            kind = order_kind(literal_value)
            if kind == "number":
                test = _compare(operator, sql.number(value), as_number(literal_value))
            elif kind == "time":
                test = _compare(operator, sql.time(value), as_time(literal_value))
            elif kind == "string":
                assert isinstance(literal_value, str)
                expected = fold(literal_value) if insensitive else literal_value
                test = and_(value.is_string(), _compare(operator, sql.string(value, insensitive), expected))
            else:
                return false()
        elif operator == "between":
            test = self._between(literal_value, sql.number(value), sql.time(value), numeric=True)
        else:
            test = self._time(operator, literal_value, sql.time(value))
        return definitely(test)

    def _between(self, literal_value: Value | None, number: Expr, moment: Expr, *, numeric: bool) -> Bool:
        assert isinstance(literal_value, tuple)
        low, high = literal_value
        if isinstance(low, Missing) or isinstance(high, Missing):
            return false()
        kind = between_kind(low, high) if numeric else "time"
        if kind == "number":
            return number.between(as_number(low), as_number(high))
        if kind == "time":
            low_t, high_t = as_time(low), as_time(high)
            if low_t is None or high_t is None:
                return false()
            return moment.between(low_t, high_t)
        return false()

    def _time(self, operator: str, literal_value: Value | None, moment: Expr) -> Bool:
        """``evaluate.check_time`` for within/older_than/before/after/between."""
        if operator == "between":
            return self._between(literal_value, moment, moment, numeric=False)
        if operator == "within":
            assert isinstance(literal_value, int)
            return moment.between(self.now - literal_value, self.now)
        if operator == "older_than":
            assert isinstance(literal_value, int)
            return moment < self.now - literal_value
        if isinstance(literal_value, Missing):
            return false()
        bound = as_time(literal_value)
        if bound is None:
            return false()
        return moment < bound if operator == "before" else moment > bound

    def _event(self, condition: Event, person: FromClause) -> Bool:
        event = events.alias()
        tests: list[Bool] = [event.c.person_pk == person.c.pk, event.c.name == condition.name]
        if condition.within is not None:
            tests.append(event.c.timestamp.between(self.now - condition.within, self.now))
        if condition.where is not None:
            tests.append(self._data(condition.where, event.c.data))
        if condition.occurrence is not None:
            pick = func.min if condition.occurrence == "first" else func.max
            moment = select(pick(event.c.timestamp)).where(*tests).scalar_subquery()
            assert condition.operator is not None
            return definitely(self._time(condition.operator, condition.value, cast(moment, Float)))
        return _counted(
            condition.count or (Bound("gte", 1),), [select(literal(1)).select_from(event).where(*tests)]
        )

    def _related(self, condition: Related, from_type: str | None, source: FromClause) -> Bool:
        hop = plan_hop(self.contract, from_type, condition)
        types = select(object_types.c.id).where(
            object_types.c.workspace_id == self.workspace_id,
            or_(object_types.c.name == hop.target, object_types.c.type_id == hop.target),
        )
        # (link, object, join of the two, correlation with the source)
        branches: list[tuple[Any, Any, Bool, Bool]] = []
        if hop.direction == "person":
            link, target = person_links.alias(), objects.alias()
            branches.append((link, target, target.c.pk == link.c.object_pk, link.c.person_pk == source.c.pk))
        if hop.direction in ("down", "both"):
            link, target = object_links.alias(), objects.alias()
            branches.append((link, target, target.c.pk == link.c.child_pk, link.c.parent_pk == source.c.pk))
        if hop.direction in ("up", "both"):
            link, target = object_links.alias(), objects.alias()
            branches.append((link, target, target.c.pk == link.c.parent_pk, link.c.child_pk == source.c.pk))
        queries: list[_Branch] = []
        for link_table, object_table, on, correlation in branches:
            tests = [correlation, object_table.c.type_pk.in_(types)]
            if condition.relationship_where is not None:
                tests.append(self._data(condition.relationship_where, link_table.c.attributes))
            if condition.where is not None:
                tests.append(self._object(condition.where, object_table, hop.target_name))
            queries.append(_Branch(link_table.join(object_table, on), object_table, tests))
        result: list[Bool] = []
        if condition.count or condition.aggregate is None:
            result.append(
                _counted(
                    condition.count or (Bound("gte", 1),), [branch.select(literal(1)) for branch in queries]
                )
            )
        if condition.aggregate is not None:
            result.append(self._aggregate(condition, queries))
        return and_(*result)

    def _aggregate(self, condition: Related, branches: Sequence[_Branch]) -> Bool:
        aggregate = condition.aggregate
        assert aggregate is not None
        parts: dict[str, list[Expr]] = {"count": [], "sum": [], "min": [], "max": [], "n": []}
        for branch in branches:
            sub = branch.scalar
            target = branch.target
            function = aggregate.function
            if aggregate.field is None:
                parts["count"].append(sub(func.count()))
                continue
            value = self.sql.field(target.c.attributes, aggregate.field)
            if function == "count":
                parts["count"].append(sub(func.count(case((value.present(), 1)))))
                continue
            number = self.sql.number(value)
            if function in ("sum", "avg"):
                parts["sum"].append(func.coalesce(sub(func.sum(number)), 0.0))
            if function == "avg":
                parts["n"].append(sub(func.count(number)))
            if function in ("min", "max"):
                parts[function].append(sub(getattr(func, function)(number)))
        function = aggregate.function
        result: Expr
        if function == "count":
            result = _total(parts["count"])
        elif function == "sum":
            result = _total(parts["sum"])
        elif function == "avg":
            result = case((_total(parts["n"]) > 0, _total(parts["sum"]) / _total(parts["n"])))
        else:
            result = _extreme(parts[function], function)
        value_ = aggregate.value
        if aggregate.operator == "between":
            assert isinstance(value_, tuple)
            low, high = (as_number(item) for item in value_)
            if low is None or high is None:
                return false()
            return definitely(result.between(low, high))
        number_value = as_number(value_)
        if number_value is None:
            return false()
        return definitely(_compare(aggregate.operator, result, number_value))


@dataclass(frozen=True)
class _Branch:
    """Links of one direction joined to their objects, with the tests a related object must pass."""

    joined: FromClause
    target: FromClause
    tests: list[Bool]

    def select(self, expression: Expr) -> Select[Any]:
        return select(expression).select_from(self.joined).where(*self.tests)

    def scalar(self, expression: Expr) -> Expr:
        return self.select(expression).scalar_subquery()


def _total(parts: list[Expr]) -> Expr:
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total


def _extreme(parts: list[Expr], function: str) -> Expr:
    result = parts[0]
    for part in parts[1:]:
        better = part < result if function == "min" else part > result
        result = case((result.is_(None), part), (part.is_(None), result), (better, part), else_=result)
    return result


def _compare(operator: str, left: Expr, right: Any) -> Bool:
    result: Bool
    if operator == "gt":
        result = left > right
    elif operator == "gte":
        result = left >= right
    elif operator == "lt":
        result = left < right
    elif operator == "lte":
        result = left <= right
    elif operator == "eq":
        result = left == right
    elif operator == "neq":
        result = left != right
    else:
        raise ValueError(f"not a comparison: {operator}")
    return result


def _counted(bounds: Sequence[Bound], selects: Sequence[Select[Any]]) -> Bool:
    """Whether the number of rows of ``selects`` together meets ``bounds``: EXISTS when the bounds say
    "at least one", NOT EXISTS when they say "none", else a correlated COUNT."""
    at_least_one = not bounds_hold(bounds, 0) and all(bounds_hold(bounds, n) for n in (1, 2, 3, 1000))
    if at_least_one:
        return or_(*(query.exists() for query in selects))
    only_none = bounds_hold(bounds, 0) and not bounds_hold(bounds, 1)
    if only_none and not any(bounds_hold(bounds, n) for n in (2, 3, 1000)):
        return and_(*(not_(query.exists()) for query in selects))
    counted = _total([query.with_only_columns(func.count()).scalar_subquery() for query in selects])
    return and_(*(_compare(bound.operator, counted, bound.value) for bound in bounds))


def compile_condition(
    condition: Condition,
    *,
    dialect: str,
    workspace_id: int,
    now: Millis,
    scope: Scope | None = None,
    contract: Contract = EMPTY,
    segments: SegmentSource | None = None,
) -> Select[Any]:
    """``SELECT people.pk`` of the people of ``workspace_id`` matching ``condition`` at ``now``.

    On SQLite, run it on a connection passed through ``conditions_values.prepare`` (it installs the SQL
    functions conditions use); ``matching_people`` and ``count_people`` do that themselves."""
    compiler = ConditionCompiler(
        dialect, workspace_id, now, scope=scope, contract=contract, segments=segments
    )
    return compiler.people(condition)


def matching_people(
    conn: Connection,
    condition: Condition,
    *,
    workspace_id: int,
    now: Millis,
    scope: Scope | None = None,
    contract: Contract = EMPTY,
    segments: SegmentSource | None = None,
) -> list[int]:
    """The pks of the matching people, in pk order."""
    prepare(conn)
    query = compile_condition(
        condition,
        dialect=conn.dialect.name,
        workspace_id=workspace_id,
        now=now,
        scope=scope,
        contract=contract,
        segments=segments,
    )
    rows = conn.execute(query.order_by(query.selected_columns[0]))
    return [int(row[0]) for row in rows]


def count_people(
    conn: Connection,
    condition: Condition,
    *,
    workspace_id: int,
    now: Millis,
    scope: Scope | None = None,
    contract: Contract = EMPTY,
    segments: SegmentSource | None = None,
) -> int:
    query = compile_condition(
        condition,
        dialect=conn.dialect.name,
        workspace_id=workspace_id,
        now=now,
        scope=scope,
        contract=contract,
        segments=segments,
    )
    return int(conn.execute(select(func.count()).select_from(query.subquery())).scalar_one())
