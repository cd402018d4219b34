"""The graph of people and objects a template walks, loaded lazily and in batches.

A template reaches related objects through relationship names (``trigger.cart.items``,
``customer.orders``, ``item.product``). Nothing is loaded until the template touches a name, and
then it is loaded for every sibling at once: the entities that one load returned form a *cohort*,
and the first ``item.product`` inside ``{% for item in cart.items %}`` fetches the products of all
the cart's items in one call to the reader. A walk of depth *d* costs *d* reads, not one per item.

Storage implements ``GraphReader``; this module decides which relationship a name means (from the
contract, or, without one, the related type's name) and keeps what was loaded for the render.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from relata.core.contract import PERSON, Contract

Direction = Literal["forward", "inverse", "either"]


@dataclass(frozen=True, slots=True)
class EntityRef:
    """A person (``type_name == "person"``) or an object, by its storage key."""

    type_name: str
    key: int


@dataclass(frozen=True, slots=True)
class GraphEntity:
    """One person or object as a template sees it.

    ``fields`` are the system fields (a person's ``id``, ``email``, ``cio_id``; an object's
    ``object_id``, ``cio_object_id``) and take precedence over ``attributes``; ``link`` holds the
    attributes of the relationship the entity was reached through (``item.relationship.quantity``).
    """

    ref: EntityRef
    attributes: Mapping[str, Any] = field(default_factory=dict)
    fields: Mapping[str, Any] = field(default_factory=dict)
    link: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Hop:
    """One step along a relationship: from entities of some type to ``to_type``.

    ``forward`` follows person → object or parent → child links, ``inverse`` the other way, and
    ``either`` both (object → object without a contract, where the direction is not declared).
    """

    name: str
    to_type: str
    direction: Direction


class GraphReader(Protocol):
    """Reads related entities for many entities at once (one query per call, not per entity)."""

    def object_type_names(self) -> frozenset[str]:
        """Names of the workspace's object types (relationship names without a contract)."""
        ...

    def related(self, refs: Sequence[EntityRef], hop: Hop) -> Mapping[EntityRef, Sequence[GraphEntity]]:
        """The entities related to each of ``refs`` along ``hop``, in a stable order."""
        ...


class EmptyGraph:
    """A reader with nothing in it: renders without storage (previews of literal data, tests)."""

    def object_type_names(self) -> frozenset[str]:
        return frozenset()

    def related(self, refs: Sequence[EntityRef], hop: Hop) -> Mapping[EntityRef, Sequence[GraphEntity]]:
        return {}


def resolve_hop(
    contract: Contract | None, known_types: frozenset[str], from_type: str, name: str
) -> Hop | None:
    """The relationship called ``name`` leaving ``from_type``, or None when there is none.

    The contract's names (``as`` / ``inverse``) come first. Otherwise a known object type's name is
    its own relationship name (``customer.cart``, ``cart.cart_item``), and ``person`` leads from an
    object back to the people related to it.
    """
    if contract is not None:
        named = contract.relationship_named(from_type, name)
        if named is not None:
            spec, forward = named
            return Hop(name, spec.to_type if forward else spec.from_type, "forward" if forward else "inverse")
        declared = contract.person_attributes if from_type == PERSON else None
        if declared is None and from_type in contract.object_types:
            declared = contract.object_types[from_type].attributes
        if declared is not None and name in declared:
            return None  # a declared attribute that this entity lacks is missing, not a relationship
    if name == PERSON:
        return None if from_type == PERSON else Hop(name, PERSON, "inverse")
    types = known_types | frozenset(contract.object_types) if contract is not None else known_types
    if name in types:
        return Hop(name, name, "forward" if from_type == PERSON else "either")
    return None


class GraphLimitError(Exception):
    """The render loaded more related entities than its sandbox allows."""


class LazyGraph:
    """What one render has loaded: wraps entities and loads relationships on first use."""

    __slots__ = ("_contract", "_hops", "_known", "_limit", "_reader", "check", "loaded", "reads")

    def __init__(
        self,
        reader: GraphReader,
        contract: Contract | None = None,
        *,
        entity_limit: int = 10_000,
        check: Callable[[], None] | None = None,
    ) -> None:
        self._reader = reader
        self._contract = contract
        self._known: frozenset[str] | None = None
        self._hops: dict[tuple[str, str], Hop | None] = {}
        self._limit = entity_limit
        self.check = check
        self.reads = 0
        self.loaded = 0

    def wrap(self, entities: Sequence[GraphEntity]) -> list[LazyEntity]:
        """Entities that are siblings: a relationship used on one is loaded for all of them."""
        cohort: list[LazyEntity] = []
        for entity in entities:
            cohort.append(LazyEntity(entity, self, cohort))
        return cohort

    def entity(self, entity: GraphEntity) -> LazyEntity:
        return self.wrap([entity])[0]

    def hop(self, from_type: str, name: str) -> Hop | None:
        key = (from_type, name)
        if key not in self._hops:
            if self._known is None:
                self._known = self._reader.object_type_names()
            self._hops[key] = resolve_hop(self._contract, self._known, from_type, name)
        return self._hops[key]

    def load(self, entity: LazyEntity, name: str) -> RelatedList:
        """Load relationship ``name`` for ``entity`` and every sibling of the same type."""
        hop = self.hop(entity.ref.type_name, name)
        if hop is None:
            raise KeyError(name)
        if self.check is not None:
            self.check()
        pending = [
            member
            for member in entity.cohort
            if member.ref.type_name == entity.ref.type_name and name not in member.related
        ]
        refs = list(dict.fromkeys(member.ref for member in pending))
        found = self._reader.related(refs, hop)
        self.reads += 1
        cohort: list[LazyEntity] = []
        for member in pending:
            rows = found.get(member.ref, ())
            self.loaded += len(rows)
            if self.loaded > self._limit:
                raise GraphLimitError(f"more than {self._limit} related entities loaded")
            member.related[name] = RelatedList(LazyEntity(row, self, cohort) for row in rows)
            cohort.extend(member.related[name])
        return entity.related[name]


class LazyEntity(dict[str, Any]):
    """A person or object in the render context; unknown keys are looked up as relationships.

    A ``dict`` of the entity's attributes and fields (fields win), so Liquid reads them at C speed;
    a key that is neither (``cart.items``) reaches ``__missing__``, which loads the relationship.
    """

    __slots__ = ("cohort", "entity", "graph", "related")

    def __init__(self, entity: GraphEntity, graph: LazyGraph, cohort: list[LazyEntity]) -> None:
        dict.__init__(self, entity.attributes)
        if entity.fields:
            self.update(entity.fields)
        self.entity = entity
        self.graph = graph
        self.cohort = cohort
        self.related: dict[str, RelatedList] = {}

    @property
    def ref(self) -> EntityRef:
        return self.entity.ref

    def __missing__(self, key: object) -> Any:
        if not isinstance(key, str):
            raise KeyError(key)
        if key == "relationship" and self.entity.link is not None:
            return self.entity.link
        related = self.related.get(key)
        if related is not None:
            return related
        return self.graph.load(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def __repr__(self) -> str:
        return f"LazyEntity({self.entity.ref.type_name}:{self.entity.ref.key})"

    def to_dict(self) -> dict[str, Any]:
        """Fields and attributes (not relationships): what ``| json`` shows of an entity."""
        return dict(self)


class RelatedList(list[LazyEntity]):
    """The entities along one relationship: a Liquid array that also reads like its first item.

    ``{{ item.product.name }}`` reads the first (usually only) related product; ``size``,
    ``first`` and ``last`` keep their array meaning.
    """

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            if key == "size":
                return len(self)  # what Liquid falls back to, without raising and catching KeyError
            if key in ("first", "last") or not self:
                raise KeyError(key)
            return list.__getitem__(self, 0)[key]
        return list.__getitem__(self, key)
