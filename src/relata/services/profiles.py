"""A person or object with its related objects expanded to a depth (SPEC §5), loaded a level at a time.

From a person the expansion follows the person's relationships; from an object it follows object links
parent → child (cart → cart items → product). It never walks child → parent: a product is the child of
every cart item that holds it, so walking upwards would pull in other people's carts. An object already on
the path from the root is shown again without its children, which ends cycles.

Relationships are named by the data contract (``as``, or ``inverse`` walking backwards), else by the
related type's name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from relata.core.contract import PERSON, Contract
from relata.core.model import StoredObject
from relata.core.times import Millis
from relata.storage import graph_reads
from relata.storage.graph_reads import LinkedObject

MAX_EXPAND = 5

Related = Mapping[str, tuple["Node", ...]]


@dataclass(frozen=True)
class Node:
    """An object as seen from the one it hangs under; ``related`` is None when it was not expanded."""

    object: StoredObject
    relationship_attributes: Mapping[str, Any]
    relationship_stamps: Mapping[str, Millis]
    related: Related | None


def relationship_name(contract: Contract, from_type: str, to_type: str) -> str:
    spec = contract.relationship(from_type, to_type)
    return spec.name if spec is not None else to_type


def inverse_name(contract: Contract, from_type: str, to_type: str) -> str:
    """How ``to_type`` calls its link back to ``from_type``."""
    spec = contract.relationship(from_type, to_type)
    return spec.inverse if spec is not None else from_type


def expand_person(
    conn: Connection, workspace_id: int, contract: Contract, person_pk: int, depth: int
) -> Related | None:
    """The objects related to a person, ``depth`` levels deep (0: not expanded)."""
    if depth <= 0:
        return None
    first = graph_reads.objects_of_people(conn, workspace_id, [person_pk])
    return _expand(conn, workspace_id, contract, PERSON, first, depth, frozenset())


def expand_object(
    conn: Connection, workspace_id: int, contract: Contract, obj: StoredObject, depth: int
) -> Related | None:
    """The children of an object, ``depth`` levels deep (0: not expanded)."""
    if depth <= 0:
        return None
    first = graph_reads.children_of(conn, workspace_id, [obj.pk])
    return _expand(conn, workspace_id, contract, obj.type.name, first, depth, frozenset({obj.pk}))


def group(contract: Contract, from_type: str, links: Sequence[LinkedObject]) -> Related:
    """Links as unexpanded nodes, grouped by relationship name."""
    return _group(contract, from_type, links, 0, frozenset(), {})


def _expand(
    conn: Connection,
    workspace_id: int,
    contract: Contract,
    from_type: str,
    first: list[LinkedObject],
    depth: int,
    path: frozenset[int],
) -> Related:
    children: dict[int, list[LinkedObject]] = {}
    frontier = {link.object.pk for link in first}
    for _level in range(1, depth):
        wanted = frontier - children.keys()
        if wanted:
            for pk in wanted:
                children[pk] = []
            for link in graph_reads.children_of(conn, workspace_id, wanted):
                children[link.start].append(link)
        frontier = {link.object.pk for pk in frontier for link in children[pk]}
        if not frontier:
            break
    return _group(contract, from_type, first, depth - 1, path, children)


def _group(
    contract: Contract,
    from_type: str,
    links: Sequence[LinkedObject],
    remaining: int,
    path: frozenset[int],
    children: Mapping[int, list[LinkedObject]],
) -> Related:
    groups: dict[str, list[Node]] = {}
    for link in links:
        obj = link.object
        related: Related | None = None
        if remaining > 0 and obj.pk not in path:
            related = _group(
                contract, obj.type.name, children.get(obj.pk, []), remaining - 1, path | {obj.pk}, children
            )
        name = relationship_name(contract, from_type, obj.type.name)
        groups.setdefault(name, []).append(Node(obj, link.attributes, link.stamps, related))
    return {name: tuple(nodes) for name, nodes in groups.items()}
