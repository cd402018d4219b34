"""The scope a condition is evaluated in: values for ``ref``s and the trigger object (guards, goals).

Refs are resolved before evaluation, so both executors see literals only. A ref that names nothing in
the scope resolves to ``MISSING``; a comparison with a missing value is false (and its negation, such
as ``neq``, true) — see docs/conditions.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from relata.core.conditions.tree import (
    MISSING,
    Aggregate,
    And,
    Attribute,
    Condition,
    Event,
    Message,
    Missing,
    Not,
    Or,
    Ref,
    Related,
    Segment,
    TriggerObject,
    Value,
)
from relata.core.conditions.values import is_number


@dataclass(frozen=True)
class Scope:
    """``values`` is a nested mapping read by refs: ``{"trigger": {"cart": {...}}, "customer": {...}}``.

    ``trigger_type``/``trigger_object_pk`` name the object a ``trigger_object`` condition is about.
    """

    values: Mapping[str, Any] = field(default_factory=dict)
    trigger_type: str | None = None
    trigger_object_pk: int | None = None

    @classmethod
    def for_trigger(
        cls,
        type_name: str,
        object_id: str,
        attributes: Mapping[str, Any],
        *,
        object_pk: int | None = None,
        customer: Mapping[str, Any] | None = None,
        event: Mapping[str, Any] | None = None,
    ) -> Scope:
        """The scope of a campaign triggered by object ``type_name``/``object_id`` (refs
        ``trigger.<type>.<attribute>`` and ``trigger.<type>.object_id``)."""
        values: dict[str, Any] = {"trigger": {type_name: {**attributes, "object_id": object_id}}}
        if event is not None:
            values["trigger"]["event"] = dict(event)
            values["event"] = dict(event)
        if customer is not None:
            values["customer"] = dict(customer)
        return cls(values, type_name, object_pk)

    def lookup(self, path: str) -> Any:
        """The value at a dotted path, or ``MISSING``."""
        current: Any = self.values
        for part in path.split("."):
            if not isinstance(current, Mapping) or part not in current:
                return MISSING
            current = current[part]
        if current is None or isinstance(current, Mapping | list):
            return MISSING
        if isinstance(current, bool | str) or is_number(current):
            return current
        return MISSING


def _value(value: Value | None, scope: Scope) -> Value | None:
    if isinstance(value, Ref):
        resolved: Value = scope.lookup(value.path)
        return resolved
    if isinstance(value, tuple):
        return tuple(item for item in (_value(item, scope) for item in value) if item is not None)  # type: ignore[misc]
    return value


def _maybe(condition: Condition | None, scope: Scope) -> Condition | None:
    return None if condition is None else resolve(condition, scope)


def resolve(condition: Condition, scope: Scope) -> Condition:
    """The condition with every ``Ref`` replaced by its value in ``scope`` (or ``MISSING``)."""
    if isinstance(condition, And):
        return And(tuple(resolve(item, scope) for item in condition.items))
    if isinstance(condition, Or):
        return Or(tuple(resolve(item, scope) for item in condition.items))
    if isinstance(condition, Not):
        return Not(resolve(condition.item, scope))
    if isinstance(condition, TriggerObject):
        return TriggerObject(resolve(condition.condition, scope))
    if isinstance(condition, Attribute):
        return replace(condition, value=_value(condition.value, scope))
    if isinstance(condition, Event):
        return replace(condition, where=_maybe(condition.where, scope), value=_value(condition.value, scope))
    if isinstance(condition, Related):
        aggregate = condition.aggregate
        if aggregate is not None:
            value = _value(aggregate.value, scope)
            aggregate = Aggregate(
                aggregate.function, aggregate.field, aggregate.operator, MISSING if value is None else value
            )
        return replace(
            condition,
            where=_maybe(condition.where, scope),
            relationship_where=_maybe(condition.relationship_where, scope),
            aggregate=aggregate,
        )
    if isinstance(condition, Message):
        return resolve(condition.to_event(), scope)
    assert isinstance(condition, Segment)
    return condition


def is_missing(value: object) -> bool:
    return isinstance(value, Missing)
