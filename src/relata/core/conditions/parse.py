"""Conditions from JSON/YAML-shaped data and back.

``parse_condition`` raises ``ValidationError`` naming the path of the offending field, e.g.
``and[2].related.where.attribute.operator: unknown operator "gtt"``. ``to_data`` is its inverse:
``parse_condition(to_data(c)) == c``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from relata.core.conditions.tree import (
    AGGREGATE_FUNCTIONS,
    AGGREGATE_OPERATORS,
    COUNT_OPERATORS,
    MESSAGE_EVENTS,
    OCCURRENCE_OPERATORS,
    OPERATORS,
    ORDERING,
    REF_ROOTS,
    Aggregate,
    And,
    Attribute,
    Bound,
    Condition,
    Context,
    Event,
    Message,
    Missing,
    Not,
    Or,
    Ref,
    Related,
    Scalar,
    Segment,
    TriggerObject,
    Value,
)
from relata.core.conditions.values import as_time, between_kind, is_number
from relata.core.errors import ValidationError
from relata.core.times import format_duration, parse_duration

LEAVES: dict[Context, tuple[str, ...]] = {
    "person": ("and", "or", "not", "attribute", "event", "related", "segment", "message", "trigger_object"),
    "object": ("and", "or", "not", "attribute", "related"),
    "data": ("and", "or", "not", "attribute"),
}
_CONTEXT_NAMES = {
    "person": "a person",
    "object": "an object",
    "data": "event data or relationship attributes",
}


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def parse_condition(data: object, path: str = "", context: Context = "person") -> Condition:
    """A condition from its JSON/YAML form; ``context`` says which leaves may appear (see ``tree``)."""
    if not isinstance(data, Mapping) or len(data) != 1:
        raise ValidationError(
            path, f"a condition is a mapping with exactly one of {', '.join(LEAVES[context])}"
        )
    ((kind, body),) = data.items()
    if kind not in LEAVES[context]:
        if kind in LEAVES["person"]:
            raise ValidationError(
                _join(path, str(kind)), f"is not allowed in a condition on {_CONTEXT_NAMES[context]}"
            )
        raise ValidationError(
            _join(path, str(kind)), f"unknown condition {kind!r}; use one of {', '.join(LEAVES[context])}"
        )
    here = _join(path, kind)
    if kind in ("and", "or"):
        if not isinstance(body, Sequence) or isinstance(body, str | bytes) or not body:
            raise ValidationError(here, "must be a non-empty list of conditions")
        items = tuple(parse_condition(item, f"{here}[{index}]", context) for index, item in enumerate(body))
        return And(items) if kind == "and" else Or(items)
    if kind == "not":
        return Not(parse_condition(body, here, context))
    if kind == "trigger_object":
        return TriggerObject(parse_condition(body, here, "object"))
    if not isinstance(body, Mapping):
        raise ValidationError(here, "must be a mapping")
    if kind == "attribute":
        return _attribute(body, here)
    if kind == "event":
        return _event(body, here)
    if kind == "related":
        return _related(body, here)
    if kind == "segment":
        _only(body, here, ("id",))
        return Segment(_name(body.get("id"), _join(here, "id")))
    return _message(body, here)


def _only(body: Mapping[Any, Any], path: str, allowed: Sequence[str]) -> None:
    unknown = sorted(str(key) for key in body if key not in allowed)
    if unknown:
        raise ValidationError(_join(path, unknown[0]), f"unknown setting; use {', '.join(allowed)}")


def _name(value: object, path: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int) or str(value) == "":
        raise ValidationError(path, "is required and must be a non-empty string")
    return str(value)


def _field(value: object, path: str) -> str:
    name = _name(value, path)
    if '"' in name or "\\" in name or len(name) > 300:
        raise ValidationError(path, "must not contain quotes or backslashes (at most 300 characters)")
    return name


def _scalar(value: object, path: str) -> Scalar | Ref:
    if isinstance(value, Mapping):
        if set(value) != {"ref"}:
            raise ValidationError(path, 'must be a value or {"ref": "trigger.<type>.<attribute>"}')
        return _ref(value["ref"], _join(path, "ref"))
    if isinstance(value, datetime):
        value = (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat().replace("+00:00", "Z")
    elif isinstance(value, date):
        value = value.isoformat()
    if isinstance(value, bool | str):
        return value
    if is_number(value):
        number: int | float = value  # type: ignore[assignment]
        if isinstance(number, float) and not math.isfinite(number):
            raise ValidationError(path, "must be a finite number")
        return number
    if value is None:
        raise ValidationError(path, "is required; test presence with exists / not_exists")
    raise ValidationError(path, "must be a string, number, boolean or ref")


def _ref(value: object, path: str) -> Ref:
    if not isinstance(value, str):
        raise ValidationError(path, "must be a dotted path such as trigger.cart.updated_at")
    parts = value.split(".")
    if len(parts) < 2 or not all(parts):
        raise ValidationError(path, f"{value!r} is not a dotted path such as trigger.cart.updated_at")
    if parts[0] not in REF_ROOTS:
        raise ValidationError(path, f"unknown scope {parts[0]!r}; use {', '.join(REF_ROOTS)}")
    return Ref(value)


def _list(value: object, path: str, length: int | None = None) -> tuple[Scalar | Ref, ...]:
    if not isinstance(value, Sequence) or isinstance(value, str | bytes) or not value:
        raise ValidationError(path, "must be a non-empty list of values")
    if length is not None and len(value) != length:
        raise ValidationError(path, f"must be a list of {length} values")
    return tuple(_scalar(item, f"{path}[{index}]") for index, item in enumerate(value))


def _time_literal(value: Scalar | Ref, path: str) -> Scalar | Ref:
    if not isinstance(value, Ref) and as_time(value) is None:
        raise ValidationError(path, f"{value!r} is not a time (unix seconds or milliseconds, or ISO-8601)")
    return value


def _operator(body: Mapping[Any, Any], path: str, allowed: Sequence[str]) -> str:
    operator = body.get("operator")
    if operator is None:
        raise ValidationError(_join(path, "operator"), "is required")
    if operator not in allowed:
        raise ValidationError(_join(path, "operator"), f"unknown operator {operator!r}".replace("'", '"'))
    return str(operator)


def _operand(operator: str, body: Mapping[Any, Any], path: str) -> Value | None:
    """The validated value of ``operator`` (durations as milliseconds)."""
    where = _join(path, "value")
    raw = body.get("value")
    if operator in ("exists", "not_exists"):
        if raw is not None:
            raise ValidationError(where, f"{operator} takes no value")
        return None
    if raw is None:
        raise ValidationError(where, "is required")
    if operator in ("in", "not_in"):
        return _list(raw, where)
    if operator in ("within", "older_than"):
        return parse_duration(raw, where)
    if operator == "between":
        low, high = _list(raw, where, 2)
        if not isinstance(low, Ref) and not isinstance(high, Ref) and between_kind(low, high) is None:
            raise ValidationError(where, "bounds must both be numbers or both be ISO-8601 times")
        return (low, high)
    value = _scalar(raw, where)
    if operator in ("before", "after"):
        return _time_literal(value, where)
    if operator in ORDERING and isinstance(value, bool):
        raise ValidationError(where, f"{operator} compares numbers, times or strings, not booleans")
    if operator in ("starts_with", "ends_with") and not isinstance(value, str | Ref):
        raise ValidationError(where, f"{operator} takes a string")
    return value


def _attribute(body: Mapping[Any, Any], path: str) -> Attribute:
    _only(body, path, ("field", "operator", "value", "case"))
    field = _field(body.get("field"), _join(path, "field"))
    operator = _operator(body, path, OPERATORS)
    case = body.get("case", "sensitive")
    if case not in ("sensitive", "insensitive"):
        raise ValidationError(_join(path, "case"), 'must be "sensitive" or "insensitive"')
    return Attribute(field, operator, _operand(operator, body, path), case == "insensitive")


def _count(raw: object, path: str) -> tuple[Bound, ...]:
    if not isinstance(raw, Mapping) or not raw:
        raise ValidationError(path, "must be a mapping such as {gte: 2}")
    bounds = []
    for operator, value in raw.items():
        if operator not in COUNT_OPERATORS:
            raise ValidationError(
                _join(path, str(operator)), f"unknown operator {operator!r}; use {', '.join(COUNT_OPERATORS)}"
            )
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValidationError(_join(path, str(operator)), "must be a whole number, 0 or more")
        bounds.append(Bound(str(operator), value))
    return tuple(bounds)


def _within(body: Mapping[Any, Any], path: str) -> int | None:
    raw = body.get("within")
    return None if raw is None else parse_duration(raw, _join(path, "within"))


def _event(body: Mapping[Any, Any], path: str) -> Event:
    _only(body, path, ("name", "where", "within", "count", "occurrence", "operator", "value"))
    name = _name(body.get("name"), _join(path, "name"))
    where = (
        None if body.get("where") is None else parse_condition(body["where"], _join(path, "where"), "data")
    )
    within = _within(body, path)
    count = () if body.get("count") is None else _count(body["count"], _join(path, "count"))
    occurrence = body.get("occurrence")
    if occurrence is None:
        for key in ("operator", "value"):
            if key in body:
                raise ValidationError(_join(path, key), 'needs "occurrence": "first" or "last"')
        return Event(name, where, within, count)
    if occurrence not in ("first", "last"):
        raise ValidationError(_join(path, "occurrence"), 'must be "first" or "last"')
    for key in ("within", "count"):
        if key in body:
            raise ValidationError(
                _join(path, key), "cannot be combined with occurrence; test the time with operator and value"
            )
    operator = _operator(body, path, OCCURRENCE_OPERATORS)
    return Event(name, where, None, (), occurrence, operator, _operand(operator, body, path))


def _related(body: Mapping[Any, Any], path: str) -> Related:
    _only(body, path, ("type", "via", "where", "relationship_where", "count", "aggregate"))
    type_ = None if body.get("type") is None else _name(body["type"], _join(path, "type"))
    via = None if body.get("via") is None else _name(body["via"], _join(path, "via"))
    if type_ is None and via is None:
        raise ValidationError(_join(path, "type"), "a related condition needs a type or via")
    where = (
        None if body.get("where") is None else parse_condition(body["where"], _join(path, "where"), "object")
    )
    rel_where = None
    if body.get("relationship_where") is not None:
        rel_where = parse_condition(body["relationship_where"], _join(path, "relationship_where"), "data")
    count = () if body.get("count") is None else _count(body["count"], _join(path, "count"))
    aggregate = (
        None if body.get("aggregate") is None else _aggregate(body["aggregate"], _join(path, "aggregate"))
    )
    return Related(type_, via, where, rel_where, count, aggregate)


def _aggregate(body: object, path: str) -> Aggregate:
    if not isinstance(body, Mapping):
        raise ValidationError(path, "must be a mapping with function, field, operator and value")
    _only(body, path, ("function", "field", "operator", "value"))
    function = body.get("function")
    if function not in AGGREGATE_FUNCTIONS:
        raise ValidationError(_join(path, "function"), f"must be one of {', '.join(AGGREGATE_FUNCTIONS)}")
    field = None
    if body.get("field") is not None or function != "count":
        field = _field(body.get("field"), _join(path, "field"))
    operator = _operator(body, path, AGGREGATE_OPERATORS)
    value = _operand(operator, body, path)
    numbers = value if isinstance(value, tuple) else (value,)
    for index, item in enumerate(numbers):
        if not isinstance(item, Ref) and not is_number(item):
            where = _join(path, "value") + (f"[{index}]" if isinstance(value, tuple) else "")
            raise ValidationError(where, "must be a number")
    assert value is not None
    return Aggregate(str(function), field, operator, value)


def _message(body: Mapping[Any, Any], path: str) -> Message:
    _only(body, path, ("action", "campaign", "template", "within", "count"))
    action = body.get("action")
    if action not in MESSAGE_EVENTS:
        raise ValidationError(_join(path, "action"), f"must be one of {', '.join(MESSAGE_EVENTS)}")
    campaign = None if body.get("campaign") is None else _name(body["campaign"], _join(path, "campaign"))
    template = None if body.get("template") is None else _name(body["template"], _join(path, "template"))
    count = () if body.get("count") is None else _count(body["count"], _join(path, "count"))
    return Message(str(action), campaign, template, _within(body, path), count)


# --- serialising -----------------------------------------------------------------------------------


def _value_data(value: Value | None) -> Any:
    if isinstance(value, Ref):
        return {"ref": value.path}
    if isinstance(value, Missing):
        raise ValueError("a resolved condition cannot be serialised")
    if isinstance(value, tuple):
        return [_value_data(item) for item in value]
    return value


def _operand_data(operator: str, value: Value | None) -> Any:
    if operator in ("within", "older_than") and isinstance(value, int):
        return format_duration(value)
    return _value_data(value)


def _count_data(bounds: tuple[Bound, ...]) -> dict[str, int]:
    return {bound.operator: bound.value for bound in bounds}


def to_data(condition: Condition) -> dict[str, Any]:
    """The JSON form of a condition."""
    if isinstance(condition, And):
        return {"and": [to_data(item) for item in condition.items]}
    if isinstance(condition, Or):
        return {"or": [to_data(item) for item in condition.items]}
    if isinstance(condition, Not):
        return {"not": to_data(condition.item)}
    if isinstance(condition, TriggerObject):
        return {"trigger_object": to_data(condition.condition)}
    if isinstance(condition, Attribute):
        body: dict[str, Any] = {"field": condition.field, "operator": condition.operator}
        if condition.value is not None:
            body["value"] = _operand_data(condition.operator, condition.value)
        if condition.case_insensitive:
            body["case"] = "insensitive"
        return {"attribute": body}
    if isinstance(condition, Event):
        body = {"name": condition.name}
        if condition.where is not None:
            body["where"] = to_data(condition.where)
        if condition.within is not None:
            body["within"] = format_duration(condition.within)
        if condition.count:
            body["count"] = _count_data(condition.count)
        if condition.occurrence is not None and condition.operator is not None:
            body["occurrence"] = condition.occurrence
            body["operator"] = condition.operator
            body["value"] = _operand_data(condition.operator, condition.value)
        return {"event": body}
    if isinstance(condition, Related):
        body = {}
        if condition.type is not None:
            body["type"] = condition.type
        if condition.via is not None:
            body["via"] = condition.via
        if condition.where is not None:
            body["where"] = to_data(condition.where)
        if condition.relationship_where is not None:
            body["relationship_where"] = to_data(condition.relationship_where)
        if condition.count:
            body["count"] = _count_data(condition.count)
        if condition.aggregate is not None:
            aggregate = condition.aggregate
            agg: dict[str, Any] = {"function": aggregate.function}
            if aggregate.field is not None:
                agg["field"] = aggregate.field
            agg["operator"] = aggregate.operator
            agg["value"] = _value_data(aggregate.value)
            body["aggregate"] = agg
        return {"related": body}
    if isinstance(condition, Segment):
        return {"segment": {"id": condition.id}}
    body = {"action": condition.action}
    if condition.campaign is not None:
        body["campaign"] = condition.campaign
    if condition.template is not None:
        body["template"] = condition.template
    if condition.within is not None:
        body["within"] = format_duration(condition.within)
    if condition.count:
        body["count"] = _count_data(condition.count)
    return {"message": body}
