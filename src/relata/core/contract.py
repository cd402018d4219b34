"""The data contract (SPEC §4): object types, attribute rules, the relationship map, and checks of writes.

``parse_contract`` turns a YAML/JSON document into a ``Contract``; the ``check_*`` methods return the
violations of one write (an empty list when it conforms). Whether a violation rejects the write
(``enforce``) or is only recorded (``observe``) is the caller's decision.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from relata.core.errors import ValidationError
from relata.core.times import Millis, parse_duration, parse_timestamp

Mode = Literal["enforce", "observe"]
AttrType = Literal[
    "string", "number", "integer", "boolean", "timestamp", "url", "email", "enum", "currency", "json"
]
ATTR_TYPES: tuple[str, ...] = (
    "string",
    "number",
    "integer",
    "boolean",
    "timestamp",
    "url",
    "email",
    "enum",
    "currency",
    "json",
)
PERSON = "person"

_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


@dataclass(frozen=True)
class AttributeSpec:
    type: AttrType = "json"
    required: bool = False
    values: tuple[Any, ...] = ()
    min: float | None = None
    max: float | None = None
    pattern: str | None = None


@dataclass(frozen=True)
class Rule:
    """A freshness or expire rule: ``attribute`` older than ``max_age`` while ``when`` holds."""

    attribute: str
    max_age: Millis
    when: Mapping[str, Any] | None = None
    set: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TypeSpec:
    name: str
    type_id: str
    key: str | None = None
    id_pattern: str | None = None
    attributes: Mapping[str, AttributeSpec] = field(default_factory=dict)
    freshness: Rule | None = None
    expire: Rule | None = None


@dataclass(frozen=True)
class RelationshipSpec:
    """``from`` → ``to`` (``person`` or a type); ``name`` (``as``) and ``inverse`` name each direction."""

    from_type: str
    to_type: str
    name: str
    inverse: str
    exclusive: bool = False
    attributes: Mapping[str, AttributeSpec] = field(default_factory=dict)


@dataclass(frozen=True)
class Violation:
    """One way a write breaks the contract. ``path`` names the field in the operation."""

    type_name: str
    attribute: str | None
    kind: str
    message: str
    path: str

    def error(self) -> ValidationError:
        return ValidationError(self.path, self.message, "contract_violation")


@dataclass(frozen=True)
class Contract:
    mode: Mode = "observe"
    object_types: Mapping[str, TypeSpec] = field(default_factory=dict)
    relationships: tuple[RelationshipSpec, ...] = ()
    person_attributes: Mapping[str, AttributeSpec] = field(default_factory=dict)
    document: Mapping[str, Any] = field(default_factory=dict)

    @property
    def enforced(self) -> bool:
        return self.mode == "enforce"

    def type_spec(self, ref: str) -> TypeSpec | None:
        """The type named by its numeric id or its name."""
        spec = self.object_types.get(ref)
        if spec is not None:
            return spec
        for candidate in self.object_types.values():
            if candidate.type_id == ref:
                return candidate
        return None

    def relationship(self, from_type: str, to_type: str) -> RelationshipSpec | None:
        for spec in self.relationships:
            if spec.from_type == from_type and spec.to_type == to_type:
                return spec
        return None

    def relationship_named(self, from_type: str, name: str) -> tuple[RelationshipSpec, bool] | None:
        """The relationship leaving ``from_type`` called ``name``; the flag is True when traversed forward."""
        for spec in self.relationships:
            if spec.from_type == from_type and spec.name == name:
                return spec, True
            if spec.to_type == from_type and spec.inverse == name:
                return spec, False
        return None

    def check_object(
        self, type_name: str, object_id: str, writes: Mapping[str, Any], merged: Mapping[str, Any], path: str
    ) -> list[Violation]:
        """Violations of writing ``writes`` to object ``object_id`` whose attributes become ``merged``."""
        spec = self.object_types.get(type_name)
        if spec is None:
            return [
                Violation(
                    type_name,
                    None,
                    "unknown_type",
                    f"object type {type_name!r} is not in the data contract",
                    path + ".identifiers",
                )
            ]
        found = self.check_object_id(type_name, object_id, path + ".identifiers.object_id")
        found += _check_attributes(type_name, spec.attributes, writes, merged, path + ".attributes")
        return found

    def check_object_id(self, type_name: str, object_id: str, path: str) -> list[Violation]:
        """An object id that does not match its type's ``id_pattern`` (ids from another system)."""
        spec = self.object_types.get(type_name)
        if spec is None or not spec.id_pattern or re.search(spec.id_pattern, object_id):
            return []
        return [
            Violation(
                type_name,
                None,
                "id_pattern",
                f"{object_id!r} does not match the id pattern {spec.id_pattern!r}",
                path,
            )
        ]

    def check_person(
        self, writes: Mapping[str, Any], merged: Mapping[str, Any], path: str
    ) -> list[Violation]:
        if not self.person_attributes:
            return []
        return _check_attributes(PERSON, self.person_attributes, writes, merged, path + ".attributes")

    def check_relationship(
        self, from_type: str, to_type: str, attributes: Mapping[str, Any], path: str
    ) -> list[Violation]:
        if not self.object_types and not self.relationships:
            return []
        spec = self.relationship(from_type, to_type)
        if spec is None:
            return [
                Violation(
                    to_type,
                    None,
                    "unknown_relationship",
                    f"relationship {from_type} → {to_type} is not in the data contract",
                    path,
                )
            ]
        return _check_attributes(
            f"{from_type}→{to_type}",
            spec.attributes,
            attributes,
            attributes,
            path + ".relationship_attributes",
            check_required=False,
        )

    def normalize(self, specs: Mapping[str, AttributeSpec], attributes: Mapping[str, Any]) -> dict[str, Any]:
        """Attributes with conforming timestamps stored as unix seconds and numbers as numbers."""
        out = dict(attributes)
        for name, value in attributes.items():
            spec = specs.get(name)
            if spec is None or value is None or value == "":
                continue
            if spec.type == "timestamp":
                try:
                    out[name] = parse_timestamp(value, name) // 1000
                except ValidationError:
                    pass
            elif spec.type in ("number", "integer") and isinstance(value, str):
                number = _as_number(value)
                if number is not None and (spec.type == "number" or float(number).is_integer()):
                    out[name] = int(number) if spec.type == "integer" else number
        return out

    def attribute_specs(self, type_name: str) -> Mapping[str, AttributeSpec]:
        if type_name == PERSON:
            return self.person_attributes
        spec = self.object_types.get(type_name)
        return spec.attributes if spec else {}


def _as_number(value: Any) -> float | int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return int(value) if re.fullmatch(r"-?\d+", value.strip()) else float(value)
        except ValueError:
            return None
    return None


def conforms(spec: AttributeSpec, value: Any) -> str | None:
    """Why ``value`` does not conform to ``spec``, or None when it does."""
    kind = spec.type
    if kind in ("number", "integer"):
        number = _as_number(value)
        if number is None or math.isnan(number):
            return f"must be a{'n integer' if kind == 'integer' else ' number'}"
        if kind == "integer" and not float(number).is_integer():
            return "must be an integer"
        if spec.min is not None and number < spec.min:
            return f"must be at least {spec.min:g}"
        if spec.max is not None and number > spec.max:
            return f"must be at most {spec.max:g}"
        return None
    if kind == "boolean":
        return None if isinstance(value, bool) or value in ("true", "false") else "must be a boolean"
    if kind == "timestamp":
        try:
            parse_timestamp(value, "")
        except ValidationError:
            return "must be a unix timestamp or ISO-8601 date-time"
        return None
    if kind == "json":
        return None
    if not isinstance(value, str):
        return f"must be a{'n' if kind[0] in 'aeiou' else ''} {kind}"
    if kind == "url" and not _URL.match(value):
        return "must be an http(s) URL"
    if kind == "email" and not _EMAIL.match(value):
        return "must be an email address"
    if kind == "currency" and not _CURRENCY.match(value):
        return "must be an ISO 4217 currency code such as USD"
    if kind == "enum" and value not in spec.values:
        return f"must be one of {', '.join(map(str, spec.values))}"
    if kind == "string" and spec.values and value not in spec.values:
        return f"must be one of {', '.join(map(str, spec.values))}"
    if spec.pattern and not re.search(spec.pattern, value):
        return f"does not match the pattern {spec.pattern!r}"
    if spec.min is not None and len(value) < spec.min:
        return f"must be at least {spec.min:g} characters"
    if spec.max is not None and len(value) > spec.max:
        return f"must be at most {spec.max:g} characters"
    return None


def _check_attributes(
    owner: str,
    specs: Mapping[str, AttributeSpec],
    writes: Mapping[str, Any],
    merged: Mapping[str, Any],
    path: str,
    check_required: bool = True,
) -> list[Violation]:
    found: list[Violation] = []
    for name, value in writes.items():
        spec = specs.get(name)
        if spec is None or value is None or value == "":
            continue
        problem = conforms(spec, value)
        if problem:
            found.append(Violation(owner, name, "type", f"{problem} (got {value!r:.80})", f"{path}.{name}"))
    if check_required:
        for name, spec in specs.items():
            if spec.required and merged.get(name) in (None, ""):
                found.append(Violation(owner, name, "required", "is required", f"{path}.{name}"))
    return found


# --- parsing ---------------------------------------------------------------------------------------


def parse_contract(document: object) -> Contract:
    """A contract from its YAML/JSON document; errors name the path (``object_types.cart.attributes``)."""
    if document is None:
        document = {}
    if not isinstance(document, Mapping):
        raise ValidationError("", "a contract must be a mapping")
    unknown = sorted(set(document) - {"object_types", "relationships", "mode", "person", "version"})
    if unknown:
        raise ValidationError(unknown[0], "unknown contract section")
    mode = document.get("mode", "observe")
    if mode not in ("enforce", "observe"):
        raise ValidationError("mode", 'must be "enforce" or "observe"')
    types: dict[str, TypeSpec] = {}
    seen_ids: dict[str, str] = {}
    raw_types = document.get("object_types") or {}
    if not isinstance(raw_types, Mapping):
        raise ValidationError("object_types", "must be a mapping of type name to type")
    for index, (name, raw) in enumerate(raw_types.items()):
        spec = _parse_type(str(name), raw, f"object_types.{name}", index)
        if spec.type_id in seen_ids:
            raise ValidationError(
                f"object_types.{name}.id", f"id {spec.type_id!r} is also used by {seen_ids[spec.type_id]!r}"
            )
        seen_ids[spec.type_id] = spec.name
        types[spec.name] = spec
    person_attrs: Mapping[str, AttributeSpec] = {}
    person = document.get("person")
    if person is not None:
        if not isinstance(person, Mapping):
            raise ValidationError("person", "must be a mapping with attributes")
        person_attrs = _parse_attributes(person.get("attributes") or {}, "person.attributes")
    relationships = _parse_relationships(document.get("relationships") or [], types)
    return Contract(mode, types, relationships, person_attrs, dict(document))


def _parse_type(name: str, raw: object, path: str, index: int) -> TypeSpec:
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise ValidationError(path, "type names are lower_snake_case")
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ValidationError(path, "must be a mapping")
    allowed = {"id", "key", "id_pattern", "attributes", "freshness", "expire", "description"}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ValidationError(f"{path}.{unknown[0]}", "unknown setting")
    type_id = raw.get("id", str(index + 1))
    if isinstance(type_id, bool) or not isinstance(type_id, str | int) or not str(type_id).isdigit():
        raise ValidationError(f"{path}.id", 'must be a numeric string such as "1"')
    id_pattern = raw.get("id_pattern")
    if id_pattern is not None:
        _check_regex(id_pattern, f"{path}.id_pattern")
    return TypeSpec(
        name=name,
        type_id=str(type_id),
        key=raw.get("key"),
        id_pattern=id_pattern,
        attributes=_parse_attributes(raw.get("attributes") or {}, f"{path}.attributes"),
        freshness=_parse_rule(raw.get("freshness"), f"{path}.freshness", "max_age"),
        expire=_parse_rule(raw.get("expire"), f"{path}.expire", "after"),
    )


def _parse_rule(raw: object, path: str, age_key: str) -> Rule | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ValidationError(path, "must be a mapping")
    if "attribute" not in raw or not isinstance(raw["attribute"], str):
        raise ValidationError(f"{path}.attribute", "is required")
    if age_key not in raw:
        raise ValidationError(f"{path}.{age_key}", "is required")
    when = raw.get("when")
    if when is not None and not isinstance(when, Mapping):
        raise ValidationError(f"{path}.when", "must be a condition")
    to_set = raw.get("set") or {}
    if not isinstance(to_set, Mapping):
        raise ValidationError(f"{path}.set", "must be a mapping of attribute to value")
    return Rule(raw["attribute"], parse_duration(raw[age_key], f"{path}.{age_key}"), when, dict(to_set))


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
        if not isinstance(rule, Mapping):
            raise ValidationError(here, "must be a mapping such as {type: string}")
        unknown = sorted(set(rule) - {"type", "required", "values", "min", "max", "pattern", "description"})
        if unknown:
            raise ValidationError(f"{here}.{unknown[0]}", "unknown setting")
        kind = rule.get("type", "json")
        if kind not in ATTR_TYPES:
            raise ValidationError(
                f"{here}.type", f"unknown type {kind!r}; use one of {', '.join(ATTR_TYPES)}"
            )
        values = rule.get("values") or ()
        if not isinstance(values, Sequence) or isinstance(values, str):
            raise ValidationError(f"{here}.values", "must be a list")
        if kind == "enum" and not values:
            raise ValidationError(f"{here}.values", "an enum needs its values")
        for bound in ("min", "max"):
            if rule.get(bound) is not None and _as_number(rule[bound]) is None:
                raise ValidationError(f"{here}.{bound}", "must be a number")
        if rule.get("pattern") is not None:
            _check_regex(rule["pattern"], f"{here}.pattern")
        if not isinstance(rule.get("required", False), bool):
            raise ValidationError(f"{here}.required", "must be true or false")
        specs[str(name)] = AttributeSpec(
            type=kind,
            required=rule.get("required", False),
            values=tuple(values),
            min=None if rule.get("min") is None else float(rule["min"]),
            max=None if rule.get("max") is None else float(rule["max"]),
            pattern=rule.get("pattern"),
        )
    return specs


def _parse_relationships(raw: object, types: Mapping[str, TypeSpec]) -> tuple[RelationshipSpec, ...]:
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        raise ValidationError("relationships", "must be a list")
    specs: list[RelationshipSpec] = []
    for index, item in enumerate(raw):
        path = f"relationships[{index}]"
        if not isinstance(item, Mapping):
            raise ValidationError(path, "must be a mapping with from and to")
        unknown = sorted(
            set(item) - {"from", "to", "as", "inverse", "exclusive", "attributes", "description"}
        )
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
            if other.from_type == from_type and other.name == spec.name:
                raise ValidationError(
                    f"{path}.as", f"{from_type} already has a relationship named {spec.name!r}"
                )
        specs.append(spec)
    return tuple(specs)


EMPTY = Contract()
