"""Customer.io's object filter (``POST /v1/objects``) parsed into a filter tree, every error naming its path.

Supported: ``{"and": [...]}``, ``{"or": [...]}``, ``{"not": {...}}`` nested to any depth up to
``MAX_DEPTH``, and ``{"object_attribute": {"field", "operator": "eq"|"exists", "value", "type_id"}}``.
A ``type_id``, when given, must name the type being searched. A missing or empty filter matches every
object of the type.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from relata.core.errors import ValidationError
from relata.core.model import ObjectType
from relata.storage.graph_reads import AllOf, AnyOf, AttributeTest, Not, ObjectFilter

MAX_DEPTH = 10
MAX_FIELD_BYTES = 150


def parse_object_filter(value: Any, object_type: ObjectType, path: str) -> ObjectFilter | None:
    if value is None or value == {}:
        return None
    return _node(value, object_type, path, 0)


def _node(value: Any, object_type: ObjectType, path: str, depth: int) -> ObjectFilter:
    if depth > MAX_DEPTH:
        raise ValidationError(path, f"nests deeper than {MAX_DEPTH} levels")
    if not isinstance(value, Mapping) or len(value) != 1:
        raise ValidationError(path, 'must be an object with one of "and", "or", "not", "object_attribute"')
    ((key, inner),) = value.items()
    here = f"{path}.{key}"
    if key in ("and", "or"):
        if not isinstance(inner, list) or not inner:
            raise ValidationError(here, "must be a non-empty list of conditions")
        parts = tuple(_node(item, object_type, f"{here}[{i}]", depth + 1) for i, item in enumerate(inner))
        return AllOf(parts) if key == "and" else AnyOf(parts)
    if key == "not":
        return Not(_node(inner, object_type, here, depth + 1))
    if key == "object_attribute":
        return _attribute(inner, object_type, here)
    raise ValidationError(here, 'is not supported; use "and", "or", "not" or "object_attribute"')


def _attribute(value: Any, object_type: ObjectType, path: str) -> AttributeTest:
    if not isinstance(value, Mapping):
        raise ValidationError(path, "must be an object with field and operator")
    unknown = sorted(set(value) - {"field", "operator", "value", "type_id"})
    if unknown:
        raise ValidationError(f"{path}.{unknown[0]}", "is not a known setting")
    field = value.get("field")
    if not isinstance(field, str) or not field:
        raise ValidationError(f"{path}.field", "must be a non-empty string")
    if len(field.encode()) > MAX_FIELD_BYTES or '"' in field or "\\" in field:
        raise ValidationError(f"{path}.field", f'must be at most {MAX_FIELD_BYTES} bytes without " or \\')
    type_id = value.get("type_id")
    if type_id is not None and str(type_id) not in (object_type.type_id, object_type.name):
        raise ValidationError(f"{path}.type_id", f"must be the searched type {object_type.type_id!r}")
    operator = value.get("operator")
    if operator == "exists":
        return AttributeTest(field)
    if operator != "eq":
        raise ValidationError(f"{path}.operator", 'must be "eq" or "exists"')
    wanted = value.get("value")
    if wanted is None or isinstance(wanted, list | dict):
        raise ValidationError(f"{path}.value", 'is required for "eq" and must be a string, number or boolean')
    return AttributeTest(field, wanted)
