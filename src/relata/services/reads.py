"""Reads of the graph for the App API (SPEC §5): people, objects, relationships, profiles.

One read transaction per call, every query scoped to the caller's workspace; a person or object that is
not in the workspace is ``NotFound``. Lists are keyset pages: a call takes the key of the last item the
caller has seen and returns ``Page.next``, the key to pass for the following page (None at the end).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from sqlalchemy import Connection

from relata.core.contract import PERSON
from relata.core.errors import NotFound, ValidationError
from relata.core.identity import PersonRef
from relata.core.model import Device, ObjectType, Person, StoredObject
from relata.core.times import Millis
from relata.services.contracts import ContractCache
from relata.services.object_filter import parse_object_filter
from relata.services.profiles import MAX_EXPAND, Node, Related, expand_object, expand_person
from relata.services.profiles import inverse_name as _inverse
from relata.services.profiles import relationship_name as _name
from relata.storage import activity, graph_reads, objects, people
from relata.storage.database import Database
from relata.storage.graph_reads import LinkedObject, LinkedPerson

T = TypeVar("T")
PREVIEW = 100
"""How many related people and parents the object view lists (the relationships list pages them all)."""


@dataclass(frozen=True)
class Page(Generic[T]):
    items: tuple[T, ...]
    next: tuple[Any, ...] | None


@dataclass(frozen=True)
class PersonDetails:
    person: Person
    devices: tuple[Device, ...]
    anonymous_ids: tuple[str, ...]


@dataclass(frozen=True)
class Profile:
    details: PersonDetails
    related: Related | None


@dataclass(frozen=True)
class ObjectView:
    node: Node
    people: Mapping[str, tuple[LinkedPerson, ...]]
    people_count: int
    parents: Related
    parents_count: int


@dataclass(frozen=True)
class ObjectRelation:
    """One relationship of an object: to a person, to a parent object, or to a child object."""

    direction: Literal["person", "parent", "child"]
    name: str
    person: Person | None
    object: StoredObject | None
    attributes: Mapping[str, Any]
    stamps: Mapping[str, Millis]


@dataclass(frozen=True)
class PersonRelation:
    name: str
    link: LinkedObject


ObjectIdType = Literal["object_id", "cio_object_id"]


def find_person(conn: Connection, workspace_id: int, ref: PersonRef) -> Person:
    found = people.find(conn, workspace_id, ref)
    if found is None:
        raise NotFound(f"person {ref}")
    return found


def find_object(
    conn: Connection, workspace_id: int, type_ref: str, object_id: str, id_type: ObjectIdType = "object_id"
) -> StoredObject:
    object_type = objects.find_type(conn, workspace_id, type_ref)
    if object_type is None:
        raise NotFound(f"object type {type_ref!r}")
    if id_type == "cio_object_id":
        found = objects.find_by_cio_id(conn, workspace_id, object_id)
        if found is not None and found.type.pk != object_type.pk:
            found = None
    else:
        found = objects.find(conn, object_type, object_id)
    if found is None:
        raise NotFound(f"object {object_type.name}/{object_id}")
    return found


def check_expand(expand: int) -> int:
    if not 0 <= expand <= MAX_EXPAND:
        raise ValidationError("expand", f"must be between 0 and {MAX_EXPAND}")
    return expand


class Reads:
    def __init__(self, db: Database, contracts: ContractCache) -> None:
        self.db = db
        self.contracts = contracts

    # --- object types and objects -----------------------------------------------------------------

    def object_types(self, workspace_id: int) -> list[tuple[ObjectType, int]]:
        with self.db.read() as conn:
            return graph_reads.type_counts(conn, workspace_id)

    def find_objects(
        self, workspace_id: int, type_ref: str, filter_json: Any, after: int | None, limit: int
    ) -> Page[StoredObject]:
        """Objects of one type matching a Customer.io object filter (see ``object_filter``)."""
        with self.db.read() as conn:
            object_type = objects.find_type(conn, workspace_id, type_ref)
            if object_type is None:
                raise ValidationError("object_type_id", f"no object type {type_ref!r} in this workspace")
            tree = parse_object_filter(filter_json, object_type, "filter")
            rows = graph_reads.objects_page(
                conn, workspace_id, object_type.pk, tree, after=after, limit=limit + 1
            )
        return _page(rows, limit, lambda o: (o.pk,))

    def object(
        self, workspace_id: int, type_ref: str, object_id: str, id_type: ObjectIdType = "object_id"
    ) -> StoredObject:
        with self.db.read() as conn:
            return find_object(conn, workspace_id, type_ref, object_id, id_type)

    def object_relationships(
        self,
        workspace_id: int,
        type_ref: str,
        object_id: str,
        id_type: ObjectIdType,
        after: tuple[int, int] | None,
        limit: int,
    ) -> Page[ObjectRelation]:
        """People, then parents, then children of an object, each in pk order; the key is (kind, pk)."""
        found: list[tuple[tuple[int, int], ObjectRelation]] = []
        start_kind, start_pk = after if after is not None else (0, None)
        with self.db.read() as conn:
            obj = find_object(conn, workspace_id, type_ref, object_id, id_type)
            contract = self.contracts.current(conn, workspace_id)
            type_name = obj.type.name
            for kind in range(max(start_kind, 0), 3):
                want = limit + 1 - len(found)
                if want <= 0:
                    break
                after_pk = start_pk if kind == start_kind else None
                if kind == 0:
                    for p in graph_reads.people_of_object(
                        conn, workspace_id, obj.pk, after=after_pk, limit=want
                    ):
                        relation = ObjectRelation(
                            "person",
                            _inverse(contract, PERSON, type_name),
                            p.person,
                            None,
                            p.attributes,
                            p.stamps,
                        )
                        found.append(((0, p.person.pk), relation))
                else:
                    loader = graph_reads.parents_of if kind == 1 else _children_of_one
                    for link in loader(conn, workspace_id, obj.pk, after=after_pk, limit=want):
                        other = link.object
                        if kind == 1:
                            relation = ObjectRelation(
                                "parent",
                                _inverse(contract, other.type.name, type_name),
                                None,
                                other,
                                link.attributes,
                                link.stamps,
                            )
                        else:
                            relation = ObjectRelation(
                                "child",
                                _name(contract, type_name, other.type.name),
                                None,
                                other,
                                link.attributes,
                                link.stamps,
                            )
                        found.append(((kind, other.pk), relation))
        more = len(found) > limit
        found = found[:limit]
        return Page(tuple(r for _k, r in found), found[-1][0] if more and found else None)

    def object_view(
        self, workspace_id: int, type_ref: str, object_id: str, id_type: ObjectIdType, expand: int
    ) -> ObjectView:
        check_expand(expand)
        with self.db.read() as conn:
            obj = find_object(conn, workspace_id, type_ref, object_id, id_type)
            contract = self.contracts.current(conn, workspace_id)
            related = expand_object(conn, workspace_id, contract, obj, expand)
            linked_people = graph_reads.people_of_object(conn, workspace_id, obj.pk, limit=PREVIEW)
            people_count = len(linked_people)
            if people_count == PREVIEW:
                people_count = graph_reads.count_people_of_object(conn, workspace_id, obj.pk)
            parents = graph_reads.parents_of(conn, workspace_id, obj.pk, limit=PREVIEW)
            parents_count = len(parents)
            if parents_count == PREVIEW:
                parents_count = graph_reads.count_parents_of(conn, workspace_id, obj.pk)
        people_by_name: dict[str, tuple[LinkedPerson, ...]] = {}
        if linked_people:
            people_by_name[_inverse(contract, PERSON, obj.type.name)] = tuple(linked_people)
        parents_by_name: dict[str, list[Node]] = {}
        for link in parents:
            name = _inverse(contract, link.object.type.name, obj.type.name)
            parents_by_name.setdefault(name, []).append(Node(link.object, link.attributes, link.stamps, None))
        return ObjectView(
            Node(obj, {}, {}, related),
            people_by_name,
            people_count,
            {name: tuple(nodes) for name, nodes in parents_by_name.items()},
            parents_count,
        )

    # --- people -----------------------------------------------------------------------------------

    def person(self, workspace_id: int, ref: PersonRef) -> PersonDetails:
        with self.db.read() as conn:
            return _details(conn, find_person(conn, workspace_id, ref))

    def profile(self, workspace_id: int, ref: PersonRef, expand: int) -> Profile:
        check_expand(expand)
        with self.db.read() as conn:
            details = _details(conn, find_person(conn, workspace_id, ref))
            contract = self.contracts.current(conn, workspace_id)
            related = expand_person(conn, workspace_id, contract, details.person.pk, expand)
        return Profile(details, related)

    def person_relationships(
        self, workspace_id: int, ref: PersonRef, after: int | None, limit: int
    ) -> Page[PersonRelation]:
        """The objects a person is related to, in object pk order."""
        with self.db.read() as conn:
            person = find_person(conn, workspace_id, ref)
            contract = self.contracts.current(conn, workspace_id)
            links = graph_reads.objects_of_people(
                conn, workspace_id, [person.pk], after=after, limit=limit + 1
            )
        relations = [PersonRelation(_name(contract, PERSON, link.object.type.name), link) for link in links]
        return _page(relations, limit, lambda r: (r.link.object.pk,))

    def search_people(
        self,
        workspace_id: int,
        id_prefix: str | None,
        email_prefix: str | None,
        after: int | None,
        limit: int,
    ) -> Page[Person]:
        with self.db.read() as conn:
            found = graph_reads.people_page(
                conn,
                workspace_id,
                id_prefix=id_prefix,
                email_prefix=email_prefix,
                after=after,
                limit=limit + 1,
            )
        return _page(found, limit, lambda p: (p.pk,))


def _children_of_one(
    conn: Connection, workspace_id: int, pk: int, *, after: int | None, limit: int
) -> list[LinkedObject]:
    return graph_reads.children_of(conn, workspace_id, [pk], after=after, limit=limit)


def _details(conn: Connection, person: Person) -> PersonDetails:
    return PersonDetails(
        person,
        tuple(activity.devices_of(conn, person.pk)),
        tuple(people.anonymous_ids_of(conn, person.pk)),
    )


def _page(rows: list[T], limit: int, key: Any) -> Page[T]:
    if len(rows) > limit:
        return Page(tuple(rows[:limit]), key(rows[limit - 1]))
    return Page(tuple(rows), None)
