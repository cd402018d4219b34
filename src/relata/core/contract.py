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
from relata.core.quality import When, parse_when, same_value
from relata.core.times import Millis, format_duration, parse_duration, parse_timestamp

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
                    _join(path, "identifiers"),
                )
            ]
        found = self.check_object_id(type_name, object_id, _join(path, "identifiers.object_id"))
        found += _check_attributes(type_name, spec.attributes, writes, merged, _join(path, "attributes"))
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
        return _check_attributes(PERSON, self.person_attributes, writes, merged, _join(path, "attributes"))

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
            _join(path, "relationship_attributes"),
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
                number = _as_number(value)
                if number is not None and (spec.type == "number" or float(number).is_integer()):
                    out[name] = int(number) if spec.type == "integer" else number
        return out

    def attribute_specs(self, type_name: str) -> Mapping[str, AttributeSpec]:
        if type_name == PERSON:
            return self.person_attributes
        spec = self.object_types.get(type_name)
        return spec.attributes if spec else {}


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


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
                raise ValidationError(_join(path, str(key)), "keys must be strings; quote this key")
            out[str(key)] = _plain(item, _join(path, str(key)))
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
            number = None if rule.get(bound) is None else _as_number(rule[bound])
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


def rule_summary(rule: Rule) -> str:
    """``updated_at older than 4h when …`` for listings."""
    text = f"{rule.attribute} older than {format_duration(rule.max_age)}"
    return text + (f" when {rule.when}" if rule.when else "")


EMPTY = Contract()
