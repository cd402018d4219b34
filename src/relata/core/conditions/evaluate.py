"""The per-person executor: does a condition hold for one person's snapshot at ``now``?

It follows the same rules as the set-based SQL executor (``relata.storage.conditions_sql``); property
tests assert they agree on generated data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from relata.core.conditions.plan import PERSON_FIELDS, plan_hop
from relata.core.conditions.scope import Scope, resolve
from relata.core.conditions.snapshot import EventSnapshot, LinkSnapshot, ObjectSnapshot, PersonSnapshot
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
from relata.core.conditions.values import (
    as_number,
    as_time,
    between_kind,
    compare,
    contains,
    ends_with,
    equals,
    ordered_operands,
    starts_with,
)
from relata.core.contract import EMPTY, PERSON, Contract
from relata.core.times import Millis

Lookup = Callable[[str], Any]


def evaluate(
    condition: Condition,
    person: PersonSnapshot,
    *,
    now: Millis,
    scope: Scope | None = None,
    contract: Contract = EMPTY,
) -> bool:
    """Whether ``condition`` holds for ``person`` at ``now`` (refs resolved from ``scope``)."""
    scope = scope or Scope()
    return _Evaluator(now, contract, scope.trigger_type).person(resolve(condition, scope), person)


def bounds_hold(bounds: Iterable[Bound], count: int) -> bool:
    return all(compare(bound.operator, count, bound.value) for bound in bounds)


def check_attribute(condition: Attribute, value: Any, now: Millis) -> bool:
    """One attribute test on a stored value (``None`` when missing), refs already resolved."""
    operator = condition.operator
    positive = NEGATIONS.get(operator)
    if positive is not None:
        return not check_attribute(
            Attribute(condition.field, positive, condition.value, condition.case_insensitive), value, now
        )
    if operator == "exists":
        return value is not None
    if value is None:
        return False
    literal = condition.value
    insensitive = condition.case_insensitive
    if isinstance(literal, Missing):
        return False
    if operator == "eq":
        return equals(value, literal, insensitive)
    if operator == "in":
        assert isinstance(literal, tuple)
        return any(equals(value, item, insensitive) for item in literal if not isinstance(item, Missing))
    if operator == "contains":
        return contains(value, literal, insensitive)
    if operator == "starts_with":
        return starts_with(value, literal, insensitive)
    if operator == "ends_with":
        return ends_with(value, literal, insensitive)
    if operator in ORDERING:
        operands = ordered_operands(value, literal, insensitive)
        return operands is not None and compare(operator, *operands)
    return check_time(operator, literal, as_time(value), now, value)


def check_time(
    operator: str, literal: Value | None, moment: float | None, now: Millis, raw: Any = None
) -> bool:
    """``within``/``older_than``/``before``/``after``/``between`` on a time. ``raw`` is the stored value
    for an attribute's ``between`` (numeric when both bounds are numbers); without it (an event's
    occurrence) ``between`` bounds are always times."""
    if operator == "between":
        assert isinstance(literal, tuple)
        low, high = literal
        if isinstance(low, Missing) or isinstance(high, Missing):
            return False
        kind = between_kind(low, high) if raw is not None else "time"
        if kind == "number":
            number = as_number(raw)
            low_n, high_n = as_number(low), as_number(high)
            assert low_n is not None and high_n is not None
            return number is not None and low_n <= number <= high_n
        if kind == "time":
            low_t, high_t = as_time(low), as_time(high)
            return (
                moment is not None and low_t is not None and high_t is not None and low_t <= moment <= high_t
            )
        return False
    if moment is None:
        return False
    if operator == "within":
        assert isinstance(literal, int)
        return now - literal <= moment <= now
    if operator == "older_than":
        assert isinstance(literal, int)
        return moment < now - literal
    if isinstance(literal, Missing):
        return False
    bound = as_time(literal)
    if bound is None:
        return False
    if operator == "before":
        return moment < bound
    if operator == "after":
        return moment > bound
    raise ValueError(f"unknown operator {operator}")


def check_aggregate(operator: str, value: Value, result: float | None) -> bool:
    if result is None:
        return False
    if operator == "between":
        assert isinstance(value, tuple)
        low, high = value
        low_n, high_n = as_number(low), as_number(high)
        return low_n is not None and high_n is not None and low_n <= result <= high_n
    number = as_number(value)
    return number is not None and compare(operator, result, number)


def _data_value(attributes: Mapping[str, Any], field: str) -> Any:
    return attributes.get(field)


class _Evaluator:
    def __init__(self, now: Millis, contract: Contract, trigger_type: str | None) -> None:
        self.now = now
        self.contract = contract
        self.trigger_type = trigger_type

    def person(self, condition: Condition, person: PersonSnapshot) -> bool:
        if isinstance(condition, And):
            return all(self.person(item, person) for item in condition.items)
        if isinstance(condition, Or):
            return any(self.person(item, person) for item in condition.items)
        if isinstance(condition, Not):
            return not self.person(condition.item, person)
        if isinstance(condition, Attribute):
            if condition.field in PERSON_FIELDS:
                value = getattr(person, condition.field)
            else:
                value = person.attributes.get(condition.field)
            return check_attribute(condition, value, self.now)
        if isinstance(condition, Event):
            return self.event(condition, person.events)
        if isinstance(condition, Related):
            return self.related(condition, PERSON, person.objects)
        if isinstance(condition, Segment):
            return condition.id in person.segments
        if isinstance(condition, TriggerObject):
            target = person.trigger_object
            return target is not None and self.object(condition.condition, target, self.trigger_type)
        raise TypeError(f"unresolved condition {condition!r}")

    def object(self, condition: Condition, target: ObjectSnapshot, type_: str | None) -> bool:
        if isinstance(condition, And):
            return all(self.object(item, target, type_) for item in condition.items)
        if isinstance(condition, Or):
            return any(self.object(item, target, type_) for item in condition.items)
        if isinstance(condition, Not):
            return not self.object(condition.item, target, type_)
        if isinstance(condition, Attribute):
            if condition.field == "object_id":
                return check_attribute(condition, target.object_id, self.now)
            return check_attribute(condition, target.attributes.get(condition.field), self.now)
        if isinstance(condition, Related):
            hop = plan_hop(self.contract, type_, condition)
            links: tuple[LinkSnapshot, ...]
            if hop.direction == "down":
                links = target.children
            elif hop.direction == "up":
                links = target.parents
            else:
                links = target.children + target.parents
            return self.related(condition, type_, links)
        raise TypeError(f"{condition!r} is not a condition on an object")

    def data(self, condition: Condition, attributes: Mapping[str, Any]) -> bool:
        if isinstance(condition, And):
            return all(self.data(item, attributes) for item in condition.items)
        if isinstance(condition, Or):
            return any(self.data(item, attributes) for item in condition.items)
        if isinstance(condition, Not):
            return not self.data(condition.item, attributes)
        if isinstance(condition, Attribute):
            return check_attribute(condition, _data_value(attributes, condition.field), self.now)
        raise TypeError(f"{condition!r} is not a condition on data")

    def event(self, condition: Event, events: Iterable[EventSnapshot]) -> bool:
        matched = [
            event
            for event in events
            if event.name == condition.name
            and (condition.within is None or self.now - condition.within <= event.timestamp <= self.now)
            and (condition.where is None or self.data(condition.where, event.data))
        ]
        if condition.occurrence is not None:
            if not matched:
                return False
            times = [event.timestamp for event in matched]
            moment = min(times) if condition.occurrence == "first" else max(times)
            assert condition.operator is not None
            return check_time(condition.operator, condition.value, float(moment), self.now)
        bounds = condition.count or (Bound("gte", 1),)
        return bounds_hold(bounds, len(matched))

    def related(self, condition: Related, from_type: str | None, links: Iterable[LinkSnapshot]) -> bool:
        hop = plan_hop(self.contract, from_type, condition)
        matched = [
            link
            for link in links
            if link.object.is_type(hop.target)
            and (
                condition.relationship_where is None
                or self.data(condition.relationship_where, link.attributes)
            )
            and (condition.where is None or self.object(condition.where, link.object, hop.target_name))
        ]
        counted = condition.count or condition.aggregate is None
        if counted and not bounds_hold(condition.count or (Bound("gte", 1),), len(matched)):
            return False
        aggregate = condition.aggregate
        if aggregate is None:
            return True
        result: float | None
        if aggregate.function == "count":
            if aggregate.field is None:
                result = float(len(matched))
            else:
                result = float(
                    sum(1 for link in matched if link.object.attributes.get(aggregate.field) is not None)
                )
        else:
            assert aggregate.field is not None
            numbers = [
                n
                for n in (as_number(link.object.attributes.get(aggregate.field)) for link in matched)
                if n is not None
            ]
            result = _aggregate(aggregate.function, numbers)
        return check_aggregate(aggregate.operator, aggregate.value, result)


def _aggregate(function: str, numbers: list[float]) -> float | None:
    if function == "sum":
        return float(sum(numbers))
    if not numbers:
        return None
    if function == "min":
        return min(numbers)
    if function == "max":
        return max(numbers)
    return sum(numbers) / len(numbers)
