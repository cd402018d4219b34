"""Which links a ``related`` hop follows, and validation of a condition against the data contract.

A hop leaves a person (through person → object relationships) or an object (through object → object
links). ``via`` names a contract relationship in either direction (its ``as`` or its ``inverse``);
otherwise it is read as a type name. Between objects the contract gives the direction (parent → child
is ``down``, child → parent ``up``); when the contract does not know the pair, links in both directions
are followed. Both executors and the snapshot loader follow ``plan_hop``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from relata.core.conditions.tree import (
    And,
    Attribute,
    Condition,
    Event,
    Message,
    Not,
    Or,
    Related,
    Segment,
    TriggerObject,
)
from relata.core.contract import EMPTY, PERSON, AttributeSpec, Contract
from relata.core.errors import ValidationError

Direction = Literal["person", "down", "up", "both"]
PERSON_FIELDS = ("id", "email", "cio_id")  # read from the person's identifiers, not their attributes
OBJECT_FIELDS = ("object_id",)


@dataclass(frozen=True)
class Hop:
    direction: Direction
    target: str  # what an object's type name or numeric type id must equal
    target_name: str | None  # the target type's name when known (the next hop leaves from it)


def type_name(contract: Contract, ref: str | None) -> str | None:
    if ref is None:
        return None
    spec = contract.type_spec(ref)
    return spec.name if spec is not None else ref


def plan_hop(contract: Contract, from_type: str | None, related: Related) -> Hop:
    """The hop ``related`` makes from a person (``from_type == "person"``) or an object of ``from_type``."""
    source = PERSON if from_type == PERSON else type_name(contract, from_type)
    target = type_name(contract, related.type)
    if related.via is not None and source is not None:
        found = contract.relationship_named(source, related.via)
        if found is not None:
            spec, forward = found
            other = spec.to_type if forward else spec.from_type
            if other == PERSON:
                raise ValidationError(
                    "via", f"{related.via!r} leads to people; conditions follow links to objects only"
                )
            match = related.type if related.type is not None else other
            if source == PERSON:
                return Hop("person", match, other)
            return Hop("down" if forward else "up", match, other)
    if target is None:
        target = type_name(contract, related.via)
    assert target is not None
    match = related.type if related.type is not None else target
    if source == PERSON:
        return Hop("person", match, target)
    if source is not None:
        if contract.relationship(source, target) is not None:
            return Hop("down", match, target)
        if contract.relationship(target, source) is not None:
            return Hop("up", match, target)
    return Hop("both", match, target)


def _declares(contract: Contract) -> bool:
    return bool(contract.object_types or contract.relationships)


def validate(
    condition: Condition, contract: Contract = EMPTY, *, trigger_type: str | None = None, path: str = ""
) -> None:
    """Check a parsed condition against the contract: relationship and type names must exist, and where a
    type declares its attributes, attribute names must be among them. Raises ``ValidationError``."""
    _Validator(contract).person(condition, path, trigger_type)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class _Validator:
    def __init__(self, contract: Contract) -> None:
        self.contract = contract

    def person(self, condition: Condition, path: str, trigger_type: str | None) -> None:
        if isinstance(condition, And | Or):
            key = "and" if isinstance(condition, And) else "or"
            for index, item in enumerate(condition.items):
                self.person(item, f"{_join(path, key)}[{index}]", trigger_type)
        elif isinstance(condition, Not):
            self.person(condition.item, _join(path, "not"), trigger_type)
        elif isinstance(condition, Attribute):
            self.attribute(
                condition, _join(path, "attribute"), self.contract.person_attributes, "person", PERSON_FIELDS
            )
        elif isinstance(condition, Related):
            self.related(condition, _join(path, "related"), PERSON)
        elif isinstance(condition, TriggerObject):
            here = _join(path, "trigger_object")
            if (
                trigger_type is not None
                and _declares(self.contract)
                and self.contract.type_spec(trigger_type) is None
            ):
                raise ValidationError(here, f"unknown object type {trigger_type!r}")
            self.object(condition.condition, here, type_name(self.contract, trigger_type))
        else:
            assert isinstance(condition, Event | Segment | Message)

    def object(self, condition: Condition, path: str, type_: str | None) -> None:
        if isinstance(condition, And | Or):
            key = "and" if isinstance(condition, And) else "or"
            for index, item in enumerate(condition.items):
                self.object(item, f"{_join(path, key)}[{index}]", type_)
        elif isinstance(condition, Not):
            self.object(condition.item, _join(path, "not"), type_)
        elif isinstance(condition, Attribute):
            spec = self.contract.object_types.get(type_) if type_ is not None else None
            self.attribute(
                condition,
                _join(path, "attribute"),
                spec.attributes if spec else {},
                type_ or "object",
                OBJECT_FIELDS,
            )
        elif isinstance(condition, Related):
            self.related(condition, _join(path, "related"), type_)

    def data(self, condition: Condition, path: str, specs: Mapping[str, AttributeSpec], owner: str) -> None:
        if isinstance(condition, And | Or):
            key = "and" if isinstance(condition, And) else "or"
            for index, item in enumerate(condition.items):
                self.data(item, f"{_join(path, key)}[{index}]", specs, owner)
        elif isinstance(condition, Not):
            self.data(condition.item, _join(path, "not"), specs, owner)
        elif isinstance(condition, Attribute):
            self.attribute(condition, _join(path, "attribute"), specs, owner, ())

    def attribute(
        self,
        condition: Attribute,
        path: str,
        specs: Mapping[str, AttributeSpec],
        owner: str,
        builtin: tuple[str, ...],
    ) -> None:
        if specs and condition.field not in specs and condition.field not in builtin:
            raise ValidationError(
                _join(path, "field"),
                f"unknown attribute {condition.field!r} of {owner}; "
                f"the data contract declares {', '.join(sorted(specs))}",
            )

    def related(self, condition: Related, path: str, from_type: str | None) -> None:
        contract = self.contract
        if (
            contract.object_types
            and condition.type is not None
            and contract.type_spec(condition.type) is None
        ):
            raise ValidationError(_join(path, "type"), f"unknown object type {condition.type!r}")
        if contract.relationships and condition.via is not None and from_type is not None:
            source = PERSON if from_type == PERSON else type_name(contract, from_type)
            if (
                source is not None
                and contract.relationship_named(source, condition.via) is None
                and contract.type_spec(condition.via) is None
            ):
                raise ValidationError(
                    _join(path, "via"), f"{source} has no relationship named {condition.via!r}"
                )
        try:
            hop = plan_hop(contract, from_type, condition)
        except ValidationError as error:
            raise ValidationError(_join(path, error.path), error.message) from None
        target = type_name(contract, hop.target_name)
        if (
            condition.via is not None
            and condition.type is not None
            and hop.target_name is not None
            and type_name(contract, condition.type) != target
        ):
            raise ValidationError(
                _join(path, "type"),
                f"relationship {condition.via!r} leads to {hop.target_name!r}, not {condition.type!r}",
            )
        if contract.relationships and from_type is not None and target is not None and condition.via is None:
            source = PERSON if from_type == PERSON else type_name(contract, from_type)
            if (
                source is not None
                and contract.relationship(source, target) is None
                and contract.relationship(target, source) is None
            ):
                raise ValidationError(
                    _join(path, "type"),
                    f"the data contract has no relationship between {source} and {target}",
                )
        if condition.where is not None:
            self.object(condition.where, _join(path, "where"), target)
        rel_specs: Mapping[str, AttributeSpec] = {}
        source = PERSON if from_type == PERSON else type_name(contract, from_type)
        if source is not None and target is not None:
            spec = contract.relationship(source, target) or contract.relationship(target, source)
            if spec is not None:
                rel_specs = spec.attributes
        if condition.relationship_where is not None:
            self.data(
                condition.relationship_where,
                _join(path, "relationship_where"),
                rel_specs,
                f"relationship {source} → {target}",
            )
        aggregate = condition.aggregate
        if aggregate is not None and aggregate.field is not None and target is not None:
            spec_type = contract.object_types.get(target)
            if spec_type is not None and spec_type.attributes and aggregate.field not in spec_type.attributes:
                raise ValidationError(
                    _join(path, "aggregate.field"), f"unknown attribute {aggregate.field!r} of {target}"
                )
