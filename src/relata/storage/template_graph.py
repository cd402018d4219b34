"""The template graph read from the database: ``GraphReader`` over people, objects and their links.

One ``related`` call is one query (two at most for very large batches), whatever the number of
entities asked about, so a template walking ``cart.items`` then ``item.product`` costs one query
per level. A ``StorageGraph`` lives for one render (or one batch of renders) on one connection.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Select, select, union_all

from relata.core.contract import PERSON
from relata.core.templates.graph import EntityRef, GraphEntity, Hop
from relata.storage.schema import object_links, object_types, objects, people, person_links

_CHUNK = 500


def person_entity(row: Any, link: Mapping[str, Any] | None = None) -> GraphEntity:
    """A person row (``pk``, ``ident``, ``email``, ``cio_id``, ``attributes``) as the template sees it."""
    fields = {"id": row.ident, "email": row.email, "cio_id": row.cio_id}
    return GraphEntity(EntityRef(PERSON, int(row.pk)), dict(row.attributes or {}), fields, link)


def object_entity(row: Any, type_name: str, link: Mapping[str, Any] | None = None) -> GraphEntity:
    fields = {"object_id": row.object_id, "cio_object_id": row.cio_object_id}
    return GraphEntity(EntityRef(type_name, int(row.pk)), dict(row.attributes or {}), fields, link)


class StorageGraph:
    """``GraphReader`` for one workspace, on an open connection (inside the caller's transaction)."""

    def __init__(self, conn: Connection, workspace_id: int) -> None:
        self.conn = conn
        self.workspace_id = workspace_id
        self._type_pks: dict[str, int] | None = None

    # -- GraphReader -----------------------------------------------------------------------------

    def object_type_names(self) -> frozenset[str]:
        return frozenset(self._types())

    def related(self, refs: Sequence[EntityRef], hop: Hop) -> Mapping[EntityRef, Sequence[GraphEntity]]:
        found: dict[EntityRef, list[GraphEntity]] = {}
        if not refs:
            return found
        source_type = refs[0].type_name
        for start in range(0, len(refs), _CHUNK):
            keys = [ref.key for ref in refs[start : start + _CHUNK]]
            for source_key, entity in self._related_rows(source_type, keys, hop):
                found.setdefault(EntityRef(source_type, source_key), []).append(entity)
        return found

    # -- loading the entities a message starts from ----------------------------------------------

    def person(
        self,
        *,
        pk: int | None = None,
        ident: str | None = None,
        email: str | None = None,
        cio_id: str | None = None,
    ) -> GraphEntity | None:
        """A person by storage key, ``id``, email (case-insensitive) or ``cio_id``."""
        query = select(people.c.pk, people.c.ident, people.c.email, people.c.cio_id, people.c.attributes)
        query = query.where(people.c.workspace_id == self.workspace_id)
        if pk is not None:
            query = query.where(people.c.pk == pk)
        elif ident is not None:
            query = query.where(people.c.ident == ident)
        elif email is not None:
            query = query.where(people.c.email_key == email.strip().lower())
        elif cio_id is not None:
            query = query.where(people.c.cio_id == cio_id)
        else:
            raise ValueError("person() needs pk, ident, email or cio_id")
        row = self.conn.execute(query).first()
        return person_entity(row) if row is not None else None

    def object(self, type_ref: str, object_id: str) -> GraphEntity | None:
        """An object by its type (name or numeric id) and ``object_id``."""
        type_name = self.type_name(type_ref)
        if type_name is None:
            return None
        row = self.conn.execute(
            select(objects.c.pk, objects.c.object_id, objects.c.cio_object_id, objects.c.attributes).where(
                objects.c.type_pk == self._types()[type_name], objects.c.object_id == object_id
            )
        ).first()
        return object_entity(row, type_name) if row is not None else None

    def person_link(self, person: EntityRef, obj: EntityRef) -> Mapping[str, Any] | None:
        """The attributes of the relationship between a person and an object (``trigger.relationship``)."""
        row = self.conn.execute(
            select(person_links.c.attributes).where(
                person_links.c.person_pk == person.key, person_links.c.object_pk == obj.key
            )
        ).first()
        return dict(row.attributes or {}) if row is not None else None

    def type_name(self, type_ref: str) -> str | None:
        """The name of the type named or numbered ``type_ref``."""
        types = self._types()
        if type_ref in types:
            return type_ref
        row = self.conn.execute(
            select(object_types.c.name).where(
                object_types.c.workspace_id == self.workspace_id, object_types.c.type_id == type_ref
            )
        ).first()
        return str(row.name) if row is not None else None

    # -- queries ---------------------------------------------------------------------------------

    def _types(self) -> dict[str, int]:
        if self._type_pks is None:
            rows = self.conn.execute(
                select(object_types.c.id, object_types.c.name).where(
                    object_types.c.workspace_id == self.workspace_id
                )
            )
            self._type_pks = {str(row.name): int(row.id) for row in rows}
        return self._type_pks

    def _related_rows(self, source_type: str, keys: list[int], hop: Hop) -> list[tuple[int, GraphEntity]]:
        if hop.to_type == PERSON:
            if source_type == PERSON:
                return []
            query = (
                select(
                    person_links.c.object_pk.label("source"),
                    person_links.c.attributes.label("link"),
                    people.c.pk,
                    people.c.ident,
                    people.c.email,
                    people.c.cio_id,
                    people.c.attributes,
                )
                .join(people, people.c.pk == person_links.c.person_pk)
                .where(person_links.c.object_pk.in_(keys))
                .order_by(person_links.c.object_pk, person_links.c.created_at, people.c.pk)
            )
            return [
                (int(row.source), person_entity(row, dict(row.link or {})))
                for row in self.conn.execute(query)
            ]
        type_pk = self._types().get(hop.to_type)
        if type_pk is None:
            return []
        if source_type == PERSON:
            query = self._object_query(
                person_links.c.person_pk,
                person_links.c.object_pk,
                person_links.c.attributes,
                person_links.c.created_at,
                keys,
                type_pk,
            )
        else:
            forward = self._object_query(
                object_links.c.parent_pk,
                object_links.c.child_pk,
                object_links.c.attributes,
                object_links.c.created_at,
                keys,
                type_pk,
            )
            inverse = self._object_query(
                object_links.c.child_pk,
                object_links.c.parent_pk,
                object_links.c.attributes,
                object_links.c.created_at,
                keys,
                type_pk,
            )
            if hop.direction == "forward":
                query = forward
            elif hop.direction == "inverse":
                query = inverse
            else:
                both = union_all(forward.order_by(None), inverse.order_by(None)).subquery()
                query = select(both).order_by(both.c.source, both.c.linked_at, both.c.pk)
        return [
            (int(row.source), object_entity(row, hop.to_type, dict(row.link or {})))
            for row in self.conn.execute(query)
        ]

    @staticmethod
    def _object_query(
        source: Any, target: Any, link: Any, linked_at: Any, keys: list[int], type_pk: int
    ) -> Select[Any]:
        return (
            select(
                source.label("source"),
                link.label("link"),
                linked_at.label("linked_at"),
                objects.c.pk,
                objects.c.object_id,
                objects.c.cio_object_id,
                objects.c.attributes,
            )
            .join(objects, objects.c.pk == target)
            .where(source.in_(keys), objects.c.type_pk == type_pk)
            .order_by(source, linked_at, objects.c.pk)
        )
