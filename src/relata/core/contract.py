"""The data contract (SPEC §4): object types, attribute rules, the relationship map, and checks of writes.

``parse_contract`` turns a YAML/JSON document into a ``Contract``; the ``check_*`` methods return the
violations of one write (an empty list when it conforms). Whether a violation rejects the write
(``enforce``) or is only recorded (``observe``) is the caller's decision.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from relata.core.errors import ValidationError
from relata.core.quality import When, same_value
from relata.core.times import Millis, format_duration, parse_timestamp

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
    """A freshness or expire rule: ``attribute`` older than ``max_age`` while ``when`` holds.

    ``when`` is the condition as written; ``condition`` is it parsed (``relata.core.quality``). For an
    expire rule ``max_age`` is its ``after`` and ``set`` the attributes it writes.
    """

    attribute: str
    max_age: Millis
    when: Mapping[str, Any] | None = None
    set: Mapping[str, Any] = field(default_factory=dict)
    condition: When | None = None


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
                    join_path(path, "identifiers"),
                )
            ]
        found = self.check_object_id(type_name, object_id, join_path(path, "identifiers.object_id"))
        found += _check_attributes(type_name, spec.attributes, writes, merged, join_path(path, "attributes"))
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
        return _check_attributes(
            PERSON, self.person_attributes, writes, merged, join_path(path, "attributes")
        )

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
            join_path(path, "relationship_attributes"),
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
            elif spec.type == "boolean" and value in ("true", "false"):
                out[name] = value == "true"
            elif spec.type in ("number", "integer") and isinstance(value, str):
                number = as_number(value)
                if number is not None and (spec.type == "number" or float(number).is_integer()):
                    out[name] = int(number) if spec.type == "integer" else number
        return out

    def attribute_specs(self, type_name: str) -> Mapping[str, AttributeSpec]:
        if type_name == PERSON:
            return self.person_attributes
        spec = self.object_types.get(type_name)
        return spec.attributes if spec else {}


def join_path(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def as_number(value: Any) -> float | int | None:
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
        number = as_number(value)
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
    if kind == "enum" or (kind == "string" and spec.values):
        # Enum values may be numbers or booleans as well as strings; JSON equality decides.
        if not any(same_value(value, wanted) for wanted in spec.values):
            return f"must be one of {', '.join(map(str, spec.values))}"
        return None
    if not isinstance(value, str):
        return f"must be a{'n' if kind[0] in 'aeiou' else ''} {kind}"
    if kind == "url" and not _URL.match(value):
        return "must be an http(s) URL"
    if kind == "email" and not _EMAIL.match(value):
        return "must be an email address"
    if kind == "currency" and not _CURRENCY.match(value):
        return "must be an ISO 4217 currency code such as USD"
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


def rule_summary(rule: Rule) -> str:
    """``updated_at older than 4h when …`` for listings."""
    text = f"{rule.attribute} older than {format_duration(rule.max_age)}"
    return text + (f" when {rule.when}" if rule.when else "")


EMPTY = Contract()
