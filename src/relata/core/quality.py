"""Pure rules of data quality: the ``when`` conditions of ``freshness`` and ``expire`` rules (SPEC §4).

A contract rule's ``when`` is a small condition over the object's own attributes, written in the same
shape as the condition language of segments (``relata.core.conditions``) so a rule reads the same
everywhere, but limited to what a data-quality check needs:

- a leaf ``{attribute: {field: status, operator: eq, value: active}}`` with the operators ``eq``,
  ``neq``, ``in``, ``not_in``, ``exists`` and ``not_exists`` (each negative operator holds on a missing
  attribute, as in segments);
- ``{and: [...]}`` and ``{or: [...]}`` of conditions.

The same tree is evaluated here in Python (``holds``) and compiled to SQL by ``relata.storage.quality``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from relata.core.errors import ValidationError

RULE_OPERATORS: tuple[str, ...] = ("eq", "neq", "in", "not_in", "exists", "not_exists")
Scalar = str | int | float | bool


@dataclass(frozen=True)
class AttributeTest:
    """``field`` compared with ``values`` (one value for eq/neq, several for in/not_in, none for exists)."""

    field: str
    operator: str
    values: tuple[Scalar, ...] = ()

    @property
    def negated(self) -> bool:
        return self.operator in ("neq", "not_in", "not_exists")


@dataclass(frozen=True)
class AllOf:
    items: tuple[When, ...]


@dataclass(frozen=True)
class AnyOf:
    items: tuple[When, ...]


When = AttributeTest | AllOf | AnyOf


def parse_when(raw: object, path: str) -> When:
    """A rule condition from its document; errors name the path (``…freshness.when.attribute.operator``)."""
    if not isinstance(raw, Mapping) or len(raw) != 1:
        raise ValidationError(path, "must be a condition with one key: attribute, and, or")
    ((kind, body),) = raw.items()
    here = f"{path}.{kind}"
    if kind in ("and", "or"):
        if not isinstance(body, Sequence) or isinstance(body, str) or not body:
            raise ValidationError(here, "must be a non-empty list of conditions")
        items = tuple(parse_when(item, f"{here}[{index}]") for index, item in enumerate(body))
        return AllOf(items) if kind == "and" else AnyOf(items)
    if kind != "attribute":
        raise ValidationError(
            here, f"unknown condition {kind!r}; contract rules take attribute, and, or".replace("'", '"')
        )
    if not isinstance(body, Mapping):
        raise ValidationError(here, "must be a mapping with field, operator and value")
    unknown = sorted(set(body) - {"field", "operator", "value"})
    if unknown:
        raise ValidationError(f"{here}.{unknown[0]}", "unknown setting")
    field = body.get("field")
    if not isinstance(field, str) or not field or '"' in field:
        raise ValidationError(f"{here}.field", "must be an attribute name")
    operator = body.get("operator")
    if operator not in RULE_OPERATORS:
        raise ValidationError(
            f"{here}.operator", f"unknown operator {operator!r}; use one of {', '.join(RULE_OPERATORS)}"
        )
    return AttributeTest(field, str(operator), _values(str(operator), body, f"{here}.value"))


def _values(operator: str, body: Mapping[Any, Any], path: str) -> tuple[Scalar, ...]:
    if operator in ("exists", "not_exists"):
        if "value" in body:
            raise ValidationError(path, f"{operator} takes no value")
        return ()
    if "value" not in body:
        raise ValidationError(path, "is required")
    value = body["value"]
    if operator in ("in", "not_in"):
        if not isinstance(value, Sequence) or isinstance(value, str) or not value:
            raise ValidationError(path, f"{operator} takes a non-empty list")
        return tuple(_scalar(item, f"{path}[{index}]") for index, item in enumerate(value))
    return (_scalar(value, path),)


def _scalar(value: object, path: str) -> Scalar:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValidationError(path, "must be a finite number")
    if not isinstance(value, str | int | float | bool):
        raise ValidationError(path, "must be a string, number or boolean")
    return value


def same_value(stored: Any, wanted: Scalar) -> bool:
    """JSON equality: booleans equal only booleans, numbers compare by value (1 == 1.0)."""
    if isinstance(wanted, bool) or isinstance(stored, bool):
        return isinstance(stored, bool) and isinstance(wanted, bool) and stored == wanted
    if isinstance(wanted, int | float):
        return isinstance(stored, int | float) and stored == wanted
    return isinstance(stored, str) and stored == wanted


def holds(condition: When | None, attributes: Mapping[str, Any]) -> bool:
    """Whether ``condition`` holds for an object with ``attributes`` (no condition always holds)."""
    if condition is None:
        return True
    if isinstance(condition, AllOf):
        return all(holds(item, attributes) for item in condition.items)
    if isinstance(condition, AnyOf):
        return any(holds(item, attributes) for item in condition.items)
    present = attributes.get(condition.field) is not None
    if condition.operator in ("exists", "not_exists"):
        return present == (condition.operator == "exists")
    value = attributes.get(condition.field)
    matched = present and any(same_value(value, wanted) for wanted in condition.values)
    return matched != condition.negated


def fields_of(condition: When | None) -> set[str]:
    """The attribute names a condition reads."""
    if condition is None:
        return set()
    if isinstance(condition, AttributeTest):
        return {condition.field}
    return set().union(*(fields_of(item) for item in condition.items))
