"""Reading a data contract: YAML or JSON text into a document (``load_document``), a document into a
``Contract`` (``parse_contract``), with errors that name their path in the document
(``object_types.cart.attributes.status.type``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from relata.core.contract import (
    ATTR_TYPES,
    PERSON,
    AttributeSpec,
    Contract,
    RelationshipSpec,
    Rule,
    TypeSpec,
    as_number,
    conforms,
    join_path,
)
from relata.core.errors import ValidationError
from relata.core.quality import parse_when
from relata.core.times import parse_duration

# --- documents -------------------------------------------------------------------------------------


def load_document(text: str | bytes, fmt: Literal["json", "yaml"] | None = None) -> Mapping[str, Any]:
    """A contract document from YAML or JSON text (``fmt`` None: JSON when it parses, else YAML).

    The result is plain JSON: YAML dates become ISO-8601 strings, and anything JSON cannot hold (binary,
    sets, NaN, non-string keys other than numbers) is an error naming its path.
    """
    import json

    import yaml

    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationError("body", "is not UTF-8 text") from None
    raw: object
    if fmt != "yaml":
        try:
            raw = json.loads(text) if text.strip() else None
        except json.JSONDecodeError as exc:
            if fmt == "json":
                raise ValidationError("body", f"is not valid JSON: {exc}", "malformed_json") from None
            fmt = "yaml"
    if fmt == "yaml":
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc)
            raise ValidationError("body", f"is not valid YAML{where}: {problem}", "malformed_yaml") from None
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ValidationError("", "a contract must be a mapping")
    plain = _plain(raw, "")
    assert isinstance(plain, dict)
    return plain


def _plain(value: object, path: str) -> Any:
    import datetime as dt

    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if isinstance(key, bool) or not isinstance(key, str | int | float):
                raise ValidationError(join_path(path, str(key)), "keys must be strings; quote this key")
            out[str(key)] = _plain(item, join_path(path, str(key)))
        return out
    if isinstance(value, list | tuple):
        return [_plain(item, f"{path}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, float) and not math.isfinite(value):
        raise ValidationError(path, "must be a finite number")
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise ValidationError(path, f"a {type(value).__name__} cannot be stored in a contract")


# --- parsing ---------------------------------------------------------------------------------------

_SECTIONS = {"object_types", "relationships", "mode", "person", "version", "description"}
_TYPE_SETTINGS = {"id", "key", "id_pattern", "attributes", "freshness", "expire", "description"}
_ATTRIBUTE_SETTINGS = {"type", "required", "values", "min", "max", "pattern", "description"}
_RELATIONSHIP_SETTINGS = {"from", "to", "as", "inverse", "exclusive", "attributes", "description"}
_NAME = re.compile(r"[a-z][a-z0-9_]*")


def parse_contract(document: object) -> Contract:
    """A contract from its YAML/JSON document; errors name the path (``object_types.cart.attributes``)."""
    if document is None:
        document = {}
    if not isinstance(document, Mapping):
        raise ValidationError("", "a contract must be a mapping")
    unknown = sorted(set(document) - _SECTIONS)
    if unknown:
        raise ValidationError(
            str(unknown[0]), f"unknown contract section; use {', '.join(sorted(_SECTIONS - {'version'}))}"
        )
    mode = document.get("mode", "observe")
    if mode not in ("enforce", "observe"):
        raise ValidationError("mode", 'must be "enforce" or "observe"')
    raw_types = document.get("object_types")
    raw_types = {} if raw_types is None else raw_types
    if not isinstance(raw_types, Mapping):
        raise ValidationError("object_types", "must be a mapping of type name to type")
    types: dict[str, TypeSpec] = {}
    seen_ids: dict[str, str] = {}
    # Explicit ids first, so a type without an id takes the next number no other type claims.
    for name, raw in raw_types.items():
        path = f"object_types.{name}"
        type_id = _explicit_type_id(raw, path)
        if type_id is None:
            continue
        if type_id in seen_ids:
            raise ValidationError(f"{path}.id", f"id {type_id!r} is also used by {seen_ids[type_id]!r}")
        seen_ids[type_id] = str(name)
    next_id = max((int(i) for i in seen_ids), default=0) + 1
    for name, raw in raw_types.items():
        type_id = _explicit_type_id(raw, f"object_types.{name}")
        if type_id is None:
            type_id, next_id = str(next_id), next_id + 1
        types[str(name)] = _parse_type(str(name), type_id, raw, f"object_types.{name}")
    person_attrs: Mapping[str, AttributeSpec] = {}
    person = document.get("person")
    if person is not None:
        if not isinstance(person, Mapping):
            raise ValidationError("person", "must be a mapping with attributes")
        extra = sorted(set(person) - {"attributes", "description"})
        if extra:
            raise ValidationError(f"person.{extra[0]}", "unknown setting")
        person_attrs = _parse_attributes(person.get("attributes") or {}, "person.attributes")
    raw_links = document.get("relationships")
    relationships = _parse_relationships([] if raw_links is None else raw_links, types)
    return Contract(mode, types, relationships, person_attrs, dict(document))


def _explicit_type_id(raw: object, path: str) -> str | None:
    if not isinstance(raw, Mapping) or raw.get("id") is None:
        return None
    type_id = raw["id"]
    if isinstance(type_id, bool) or not isinstance(type_id, str | int) or not str(type_id).isdigit():
        raise ValidationError(f"{path}.id", 'must be a numeric string such as "1"')
    return str(int(type_id))


def _parse_type(name: str, type_id: str, raw: object, path: str) -> TypeSpec:
    if not _NAME.fullmatch(name) or len(name) > 100:
        raise ValidationError(path, "type names are lower_snake_case, at most 100 characters")
    if name == PERSON:
        raise ValidationError(path, '"person" is reserved for people')
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ValidationError(path, "must be a mapping")
    unknown = sorted(set(raw) - _TYPE_SETTINGS)
    if unknown:
        raise ValidationError(
            f"{path}.{unknown[0]}", f"unknown setting; use {', '.join(sorted(_TYPE_SETTINGS))}"
        )
    key = raw.get("key")
    if key is not None and not isinstance(key, str):
        raise ValidationError(f"{path}.key", "must be a string")
    id_pattern = raw.get("id_pattern")
    if id_pattern is not None:
        _check_regex(id_pattern, f"{path}.id_pattern")
    attributes = _parse_attributes(raw.get("attributes") or {}, f"{path}.attributes")
    return TypeSpec(
        name=name,
        type_id=type_id,
        key=key,
        id_pattern=id_pattern,
        attributes=attributes,
        freshness=_parse_rule(raw.get("freshness"), f"{path}.freshness", "max_age", attributes),
        expire=_parse_rule(raw.get("expire"), f"{path}.expire", "after", attributes),
    )


def _parse_rule(raw: object, path: str, age_key: str, attributes: Mapping[str, AttributeSpec]) -> Rule | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ValidationError(path, "must be a mapping")
    expire = age_key == "after"
    allowed = {"attribute", age_key, "when", "description"} | ({"set"} if expire else set())
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ValidationError(f"{path}.{unknown[0]}", f"unknown setting; use {', '.join(sorted(allowed))}")
    attribute = raw.get("attribute")
    if not isinstance(attribute, str) or not attribute or '"' in attribute:
        raise ValidationError(f"{path}.attribute", "is required: the timestamp attribute to age")
    spec = attributes.get(attribute)
    if spec is not None and spec.type not in ("timestamp", "number", "integer", "json"):
        raise ValidationError(f"{path}.attribute", f"{attribute!r} is a {spec.type}, not a timestamp")
    if age_key not in raw:
        raise ValidationError(f"{path}.{age_key}", "is required (a duration such as 4h or 7d)")
    age = parse_duration(raw[age_key], f"{path}.{age_key}")
    if age <= 0:
        raise ValidationError(f"{path}.{age_key}", "must be longer than zero")
    when = raw.get("when")
    condition = None if when is None else parse_when(when, f"{path}.when")
    to_set = raw.get("set")
    if expire:
        if not isinstance(to_set, Mapping) or not to_set:
            raise ValidationError(f"{path}.set", "is required: the attributes an expired object gets")
        for name, value in to_set.items():
            target = attributes.get(str(name))
            problem = None if target is None or value in (None, "") else conforms(target, value)
            if problem:
                raise ValidationError(f"{path}.set.{name}", problem)
    return Rule(attribute, age, None if when is None else dict(when), dict(to_set or {}), condition)


def _check_regex(pattern: object, path: str) -> None:
    if not isinstance(pattern, str):
        raise ValidationError(path, "must be a regular expression")
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValidationError(path, f"is not a valid regular expression: {exc}") from None


def _parse_attributes(raw: object, path: str) -> dict[str, AttributeSpec]:
    if not isinstance(raw, Mapping):
        raise ValidationError(path, "must be a mapping of attribute name to rule")
    specs: dict[str, AttributeSpec] = {}
    for name, rule in raw.items():
        here = f"{path}.{name}"
        if isinstance(rule, str):
            rule = {"type": rule}
        if rule is None:
            rule = {}
        if not isinstance(rule, Mapping):
            raise ValidationError(here, "must be a mapping such as {type: string}")
        unknown = sorted(set(rule) - _ATTRIBUTE_SETTINGS)
        if unknown:
            raise ValidationError(
                f"{here}.{unknown[0]}", f"unknown setting; use {', '.join(sorted(_ATTRIBUTE_SETTINGS))}"
            )
        kind = rule.get("type", "json")
        if kind not in ATTR_TYPES:
            raise ValidationError(
                f"{here}.type", f"unknown type {kind!r}; use one of {', '.join(ATTR_TYPES)}"
            )
        values = rule.get("values") or ()
        if not isinstance(values, Sequence) or isinstance(values, str):
            raise ValidationError(f"{here}.values", "must be a list")
        for index, value in enumerate(values):
            if isinstance(value, Mapping | list) or value is None:
                raise ValidationError(f"{here}.values[{index}]", "must be a string, number or boolean")
        if kind == "enum" and not values:
            raise ValidationError(f"{here}.values", "an enum needs its values")
        if values and kind not in ("enum", "string"):
            raise ValidationError(f"{here}.values", f"values apply to enum and string, not {kind}")
        bounds: dict[str, float | None] = {}
        for bound in ("min", "max"):
            number = None if rule.get(bound) is None else as_number(rule[bound])
            if rule.get(bound) is not None and (number is None or isinstance(rule[bound], str)):
                raise ValidationError(f"{here}.{bound}", "must be a number")
            bounds[bound] = None if number is None else float(number)
        low, high = bounds["min"], bounds["max"]
        if low is not None and high is not None and low > high:
            raise ValidationError(f"{here}.min", f"is greater than max ({high:g})")
        if rule.get("pattern") is not None:
            _check_regex(rule["pattern"], f"{here}.pattern")
        if not isinstance(rule.get("required", False), bool):
            raise ValidationError(f"{here}.required", "must be true or false")
        specs[str(name)] = AttributeSpec(
            type=kind,
            required=rule.get("required", False),
            values=tuple(values),
            min=low,
            max=high,
            pattern=rule.get("pattern"),
        )
    return specs


def _parse_relationships(raw: object, types: Mapping[str, TypeSpec]) -> tuple[RelationshipSpec, ...]:
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        raise ValidationError("relationships", "must be a list")
    specs: list[RelationshipSpec] = []
    # Names leaving each end: forward names of relationships from it, inverse names of those to it.
    names: dict[tuple[str, str], str] = {}
    for index, item in enumerate(raw):
        path = f"relationships[{index}]"
        if not isinstance(item, Mapping):
            raise ValidationError(path, "must be a mapping with from and to")
        unknown = sorted(set(item) - _RELATIONSHIP_SETTINGS)
        if unknown:
            raise ValidationError(f"{path}.{unknown[0]}", "unknown setting")
        ends = []
        for end in ("from", "to"):
            value = item.get(end)
            if not isinstance(value, str):
                raise ValidationError(f"{path}.{end}", "is required")
            if value != PERSON and value not in types:
                raise ValidationError(f"{path}.{end}", f"unknown object type {value!r}")
            ends.append(value)
        from_type, to_type = ends
        if to_type == PERSON:
            raise ValidationError(
                f"{path}.to", "relationships point from person to objects, or object to object"
            )
        exclusive = item.get("exclusive", False)
        if not isinstance(exclusive, bool):
            raise ValidationError(f"{path}.exclusive", "must be true or false")
        if exclusive and from_type != PERSON:
            raise ValidationError(f"{path}.exclusive", "exclusive applies to person → type relationships")
        for key in ("as", "inverse"):
            if item.get(key) is not None and (
                not isinstance(item[key], str) or not _NAME.fullmatch(item[key])
            ):
                raise ValidationError(f"{path}.{key}", "must be a lower_snake_case name")
        spec = RelationshipSpec(
            from_type=from_type,
            to_type=to_type,
            name=str(item.get("as") or to_type),
            inverse=str(item.get("inverse") or from_type),
            exclusive=exclusive,
            attributes=_parse_attributes(item.get("attributes") or {}, f"{path}.attributes"),
        )
        for other in specs:
            if (other.from_type, other.to_type) == (from_type, to_type):
                raise ValidationError(path, f"{from_type} → {to_type} is declared twice")
        for end, name, key in ((from_type, spec.name, "as"), (to_type, spec.inverse, "inverse")):
            taken = names.get((end, name))
            if taken is not None:
                raise ValidationError(
                    f"{path}.{key}", f"{end} already has a relationship named {name!r} ({taken})"
                )
            names[(end, name)] = f"relationships[{index}]"
        specs.append(spec)
    return tuple(specs)
