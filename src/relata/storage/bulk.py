"""Set-based reads and ``executemany`` writes of the graph tables, for the write path's unit of work.

Reads take many keys at once (``IN`` lists, chunked); writes take many rows of one table at once. The
statements are built once, with bind parameters, so SQLAlchemy compiles each of them once per process.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, Row, bindparam, insert, null, select, update

from relata.core.identity import normalize_email
from relata.core.model import ObjectType, Person, StoredObject
from relata.storage.database import executemany
from relata.storage.links import LinkRow, Links
from relata.storage.people import person_from_row
from relata.storage.schema import (
    anonymous_ids,
    events,
    object_types,
    objects,
    people,
    suppressions,
)

CHUNK = 500


def chunks(values: Iterable[Any], size: int = CHUNK) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for value in values:
        batch.append(value)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


# --- reads ----------------------------------------------------------------------------------------


def people_by_keys(
    conn: Connection,
    workspace_id: int,
    idents: Sequence[str],
    email_keys: Sequence[str],
    cio_ids: Sequence[str],
    pks: Sequence[int] = (),
    lock: bool = False,
) -> list[Person]:
    """People whose id, normalised email, cio_id or pk is in the given lists."""
    found: list[Person] = []
    for column, values in (
        (people.c.ident, idents),
        (people.c.email_key, email_keys),
        (people.c.cio_id, cio_ids),
        (people.c.pk, pks),
    ):
        for part in chunks(sorted(set(values))):
            query = select(people).where(people.c.workspace_id == workspace_id, column.in_(part))
            if lock:
                query = query.order_by(people.c.pk).with_for_update()
            found += [person_from_row(r) for r in conn.execute(query)]
    return found


def _object(row: Row[Any], object_type: ObjectType) -> StoredObject:
    return StoredObject(
        row.pk,
        object_type,
        row.object_id,
        row.cio_object_id,
        row.attributes,
        row.stamps,
        row.created_at,
        row.updated_at,
    )


def objects_by_keys(
    conn: Connection,
    workspace_id: int,
    types: dict[int, ObjectType],
    keys: Iterable[tuple[int, str]],
    cio_object_ids: Sequence[str] = (),
    pks: Sequence[int] = (),
    lock: bool = False,
) -> list[StoredObject]:
    """Objects by (type pk, object id), by cio_object_id or by pk; ``types`` are the workspace's types."""
    wanted = set(keys)
    found: list[StoredObject] = []
    by_id = sorted({object_id for _, object_id in wanted})
    type_pks = sorted({type_pk for type_pk, _ in wanted})
    lookups: list[tuple[Any, list[Any], bool]] = [(objects.c.object_id, part, True) for part in chunks(by_id)]
    lookups += [(objects.c.cio_object_id, part, False) for part in chunks(sorted(set(cio_object_ids)))]
    lookups += [(objects.c.pk, part, False) for part in chunks(sorted(set(pks)))]
    for column, part, by_key in lookups:
        query = select(objects).where(objects.c.workspace_id == workspace_id, column.in_(part))
        if by_key:
            query = query.where(objects.c.type_pk.in_(type_pks))
        if lock:
            query = query.order_by(objects.c.pk).with_for_update()
        for row in conn.execute(query):
            if by_key and (row.type_pk, row.object_id) not in wanted:
                continue
            found.append(_object(row, types[row.type_pk]))
    return found


def links_among(
    conn: Connection, workspace_id: int, links: Links, lefts: Sequence[Any], rights: Sequence[int]
) -> list[LinkRow]:
    """The links whose left end is in ``lefts`` and whose object is in ``rights``."""
    found: list[LinkRow] = []
    right_set = set(rights)
    if not right_set:
        return found
    for part in chunks(sorted(set(lefts))):
        query = select(links.table).where(links.table.c.workspace_id == workspace_id, links.left.in_(part))
        if len(right_set) <= CHUNK:
            query = query.where(links.right.in_(sorted(right_set)))
        for row in conn.execute(query):
            if row._mapping[links.right.name] in right_set:
                found.append(links.row(row))
    return found


def links_of_type(
    conn: Connection, workspace_id: int, links: Links, lefts: Sequence[Any], type_pks: Sequence[int]
) -> list[tuple[LinkRow, int]]:
    """Every link from ``lefts`` to an object of one of ``type_pks``, with the object's type pk."""
    found: list[tuple[LinkRow, int]] = []
    for part in chunks(sorted(set(lefts))):
        query = (
            select(links.table, objects.c.type_pk.label("o_type_pk"))
            .join(objects, objects.c.pk == links.right)
            .where(
                links.table.c.workspace_id == workspace_id,
                links.left.in_(part),
                objects.c.type_pk.in_(sorted(set(type_pks))),
            )
        )
        found += [(links.row(row), row.o_type_pk) for row in conn.execute(query)]
    return found


def existing_dedupe_ids(conn: Connection, workspace_id: int, dedupe_ids: Iterable[str]) -> set[str]:
    found: set[str] = set()
    for part in chunks(sorted(set(dedupe_ids))):
        found.update(
            conn.execute(
                select(events.c.dedupe_id).where(
                    events.c.workspace_id == workspace_id, events.c.dedupe_id.in_(part)
                )
            ).scalars()
        )
    return found


def anonymous_owners(conn: Connection, workspace_id: int, anonymous: Iterable[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for part in chunks(sorted(set(anonymous))):
        rows = conn.execute(
            select(anonymous_ids.c.anonymous_id, anonymous_ids.c.person_pk).where(
                anonymous_ids.c.workspace_id == workspace_id, anonymous_ids.c.anonymous_id.in_(part)
            )
        )
        found.update({r[0]: r[1] for r in rows})
    return found


def suppressed_keys(
    conn: Connection, workspace_id: int, keys: Iterable[tuple[str, str]]
) -> set[tuple[str, str]]:
    """Which of the (kind, value) identifiers are suppressed."""
    wanted = set(keys)
    found: set[tuple[str, str]] = set()
    for part in chunks(sorted({value for _, value in wanted})):
        rows = conn.execute(
            select(suppressions.c.kind, suppressions.c.value).where(
                suppressions.c.workspace_id == workspace_id, suppressions.c.value.in_(part)
            )
        )
        found.update(key for key in ((r[0], r[1]) for r in rows) if key in wanted)
    return found


# --- writes ---------------------------------------------------------------------------------------


def person_row(workspace_id: int, person: Person) -> dict[str, Any]:
    return {
        "pk": person.pk,
        "workspace_id": workspace_id,
        "cio_id": person.cio_id,
        "ident": person.id,
        "email": person.email,
        "email_key": normalize_email(person.email) if person.email else None,
        "attributes": person.attributes,
        "stamps": person.stamps,
        "created_at": person.created_at,
        "updated_at": person.updated_at,
    }


_PEOPLE_INSERT = insert(people)
_PEOPLE_UPDATE = (
    update(people)
    .where(people.c.pk == bindparam("b_pk"))
    .values(
        ident=bindparam("ident"),
        email=bindparam("email"),
        email_key=bindparam("email_key"),
        attributes=bindparam("attributes"),
        stamps=bindparam("stamps"),
        updated_at=bindparam("updated_at"),
    )
)
_PEOPLE_RELEASE = (
    update(people).where(people.c.pk == bindparam("b_pk")).values(ident=null(), email_key=null())
)


def write_people(
    conn: Connection, inserts: list[dict[str, Any]], updates: list[dict[str, Any]], release: list[int]
) -> None:
    """``release``: people whose id or email changes give them up first, so that another row can take
    them in the same flush (a swap of emails between two people, a new person with a freed email)."""
    if release:
        executemany(conn, _PEOPLE_RELEASE, [{"b_pk": pk} for pk in release])
    executemany(conn, _PEOPLE_INSERT, inserts)
    executemany(conn, _PEOPLE_UPDATE, [{"b_pk": row["pk"], **row} for row in updates])


def object_row(workspace_id: int, obj: StoredObject) -> dict[str, Any]:
    return {
        "pk": obj.pk,
        "workspace_id": workspace_id,
        "type_pk": obj.type.pk,
        "object_id": obj.object_id,
        "cio_object_id": obj.cio_object_id,
        "attributes": obj.attributes,
        "stamps": obj.stamps,
        "created_at": obj.created_at,
        "updated_at": obj.updated_at,
    }


_OBJECTS_INSERT = insert(objects)
_OBJECTS_UPDATE = (
    update(objects)
    .where(objects.c.pk == bindparam("b_pk"))
    .values(
        attributes=bindparam("attributes"), stamps=bindparam("stamps"), updated_at=bindparam("updated_at")
    )
)


def write_objects(conn: Connection, inserts: list[dict[str, Any]], updates: list[dict[str, Any]]) -> None:
    executemany(conn, _OBJECTS_INSERT, inserts)
    executemany(conn, _OBJECTS_UPDATE, [{"b_pk": row["pk"], **row} for row in updates])


_TYPES_INSERT = insert(object_types)
_TYPES_RENAME = (
    update(object_types).where(object_types.c.id == bindparam("b_id")).values(name=bindparam("name"))
)


def write_types(
    conn: Connection, workspace_id: int, inserts: list[ObjectType], renames: list[ObjectType], now: int
) -> None:
    # Renames first: a new type may take the name an existing one gives up.
    if renames:
        conn.execute(_TYPES_RENAME, [{"b_id": t.pk, "name": t.name} for t in renames])
    if inserts:
        conn.execute(
            _TYPES_INSERT,
            [
                {
                    "id": t.pk,
                    "workspace_id": workspace_id,
                    "type_id": t.type_id,
                    "name": t.name,
                    "created_at": now,
                }
                for t in inserts
            ],
        )


def link_row(workspace_id: int, links: Links, link: LinkRow) -> dict[str, Any]:
    return {
        "workspace_id": workspace_id,
        links.left.name: link.left,
        links.right.name: link.right,
        "attributes": link.state.values,
        "stamps": link.state.stamps,
        "created_at": link.created_at,
        "updated_at": link.updated_at,
    }


def write_links(
    conn: Connection,
    workspace_id: int,
    links: Links,
    inserts: list[LinkRow],
    updates: list[LinkRow],
    deletes: list[tuple[Any, int]],
) -> None:
    executemany(
        conn,
        links.delete_pair,
        [{"b_ws": workspace_id, "b_left": left, "b_right": right} for left, right in deletes],
    )
    executemany(conn, links.insert_pair, [link_row(workspace_id, links, link) for link in inserts])
    if updates:
        executemany(
            conn,
            links.update_pair,
            [
                {
                    "b_ws": workspace_id,
                    "b_left": link.left,
                    "b_right": link.right,
                    "attributes": link.state.values,
                    "stamps": link.state.stamps,
                    "created": link.created_at,
                    "now": link.updated_at,
                }
                for link in updates
            ],
        )


_EVENTS_INSERT = insert(events)


def write_events(conn: Connection, rows: list[dict[str, Any]]) -> None:
    executemany(conn, _EVENTS_INSERT, rows)
