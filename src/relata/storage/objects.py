"""Object types and object rows."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Row, bindparam, delete, func, insert, select, update

from relata.core.attributes import AttributeState
from relata.core.model import ObjectType, StoredObject
from relata.core.times import Millis
from relata.storage.database import inserted_pk
from relata.storage.schema import object_types, objects


def type_from_row(row: Row[Any]) -> ObjectType:
    return ObjectType(row.id, row.type_id, row.name)


def types(conn: Connection, workspace_id: int) -> list[ObjectType]:
    rows = conn.execute(
        select(object_types).where(object_types.c.workspace_id == workspace_id).order_by(object_types.c.id)
    )
    return [type_from_row(r) for r in rows]


def find_type(conn: Connection, workspace_id: int, ref: str) -> ObjectType | None:
    """A type by its numeric id or its name."""
    column = object_types.c.type_id if ref.isdigit() else object_types.c.name
    row = conn.execute(
        select(object_types).where(object_types.c.workspace_id == workspace_id, column == ref)
    ).first()
    return None if row is None else type_from_row(row)


def create_type(conn: Connection, workspace_id: int, type_id: str, name: str, now: Millis) -> ObjectType:
    pk = inserted_pk(
        conn.execute(
            insert(object_types).values(workspace_id=workspace_id, type_id=type_id, name=name, created_at=now)
        )
    )
    return ObjectType(pk, type_id, name)


def rename_type(conn: Connection, type_pk: int, name: str) -> None:
    conn.execute(update(object_types).where(object_types.c.id == type_pk).values(name=name))


def object_from_row(row: Row[Any], object_type: ObjectType) -> StoredObject:
    return StoredObject(
        pk=row.pk,
        type=object_type,
        object_id=row.object_id,
        cio_object_id=row.cio_object_id,
        attributes=row.attributes,
        stamps=row.stamps,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


_FIND = select(objects).where(
    objects.c.type_pk == bindparam("type_pk"), objects.c.object_id == bindparam("oid")
)
_SAVE = (
    update(objects)
    .where(objects.c.pk == bindparam("b_pk"))
    .values(
        attributes=bindparam("attributes"), stamps=bindparam("stamps"), updated_at=bindparam("updated_at")
    )
)


def find(conn: Connection, object_type: ObjectType, object_id: str) -> StoredObject | None:
    row = conn.execute(_FIND, {"type_pk": object_type.pk, "oid": object_id}).first()
    return None if row is None else object_from_row(row, object_type)


def find_by_cio_id(conn: Connection, workspace_id: int, cio_object_id: str) -> StoredObject | None:
    row = conn.execute(
        select(
            objects,
            object_types.c.id.label("t_id"),
            object_types.c.type_id.label("t_type_id"),
            object_types.c.name.label("t_name"),
        )
        .join(object_types, object_types.c.id == objects.c.type_pk)
        .where(objects.c.workspace_id == workspace_id, objects.c.cio_object_id == cio_object_id)
    ).first()
    if row is None:
        return None
    return object_from_row(row, ObjectType(row.t_id, row.t_type_id, row.t_name))


def get_many(conn: Connection, workspace_id: int, pks: Iterable[int]) -> list[StoredObject]:
    """Objects by pk, with their types, in pk order."""
    wanted = sorted(set(pks))
    if not wanted:
        return []
    rows = conn.execute(
        select(
            objects,
            object_types.c.id.label("t_id"),
            object_types.c.type_id.label("t_type_id"),
            object_types.c.name.label("t_name"),
        )
        .join(object_types, object_types.c.id == objects.c.type_pk)
        .where(objects.c.workspace_id == workspace_id, objects.c.pk.in_(wanted))
        .order_by(objects.c.pk)
    )
    return [object_from_row(r, ObjectType(r.t_id, r.t_type_id, r.t_name)) for r in rows]


def save(conn: Connection, obj: StoredObject, state: AttributeState, now: Millis) -> StoredObject:
    conn.execute(
        _SAVE,
        {"b_pk": obj.pk, "attributes": dict(state.values), "stamps": dict(state.stamps), "updated_at": now},
    )
    return StoredObject(
        obj.pk, obj.type, obj.object_id, obj.cio_object_id, state.values, state.stamps, obj.created_at, now
    )


def remove(conn: Connection, pk: int) -> None:
    conn.execute(delete(objects).where(objects.c.pk == pk))


def count_by_type(conn: Connection, workspace_id: int) -> dict[int, int]:
    rows = conn.execute(
        select(objects.c.type_pk, func.count())
        .where(objects.c.workspace_id == workspace_id)
        .group_by(objects.c.type_pk)
    )
    return {r[0]: r[1] for r in rows}
