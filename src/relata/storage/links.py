"""Relationship rows: person → object, anonymous visitor → object, and parent object → child object.

The three tables have one shape: a left end, an object on the right, attributes with stamps. ``Links``
holds the queries once for all three.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sqlalchemy import Column, Connection, Table, bindparam, delete, insert, select, update

from relata.core.attributes import AttributeState
from relata.core.times import Millis
from relata.storage.schema import anonymous_links, object_links, objects, person_links


@dataclass(frozen=True)
class LinkRow:
    left: Any
    right: int
    state: AttributeState
    created_at: Millis
    updated_at: Millis


@dataclass(frozen=True)
class Links:
    table: Table
    left: Column[Any]
    right: Column[Any]

    @cached_property
    def _where_pair(self) -> Any:
        return (
            (self.table.c.workspace_id == bindparam("b_ws"))
            & (self.left == bindparam("b_left"))
            & (self.right == bindparam("b_right"))
        )

    @cached_property
    def _get(self) -> Any:
        return select(self.table).where(self._where_pair)

    @cached_property
    def _update(self) -> Any:
        return (
            update(self.table)
            .where(self._where_pair)
            .values(
                attributes=bindparam("attributes"), stamps=bindparam("stamps"), updated_at=bindparam("now")
            )
        )

    @cached_property
    def _delete(self) -> Any:
        return delete(self.table).where(self._where_pair)

    @cached_property
    def update_pair(self) -> Any:
        """UPDATE of one pair's attributes and times, for ``executemany``."""
        return (
            update(self.table)
            .where(self._where_pair)
            .values(
                attributes=bindparam("attributes"),
                stamps=bindparam("stamps"),
                created_at=bindparam("created"),
                updated_at=bindparam("now"),
            )
        )

    @cached_property
    def insert_pair(self) -> Any:
        """INSERT of one pair, for ``executemany``."""
        return insert(self.table)

    @property
    def delete_pair(self) -> Any:
        """DELETE of one pair, for ``executemany``."""
        return self._delete

    def get(self, conn: Connection, workspace_id: int, left: Any, right: int) -> LinkRow | None:
        row = conn.execute(self._get, {"b_ws": workspace_id, "b_left": left, "b_right": right}).first()
        return None if row is None else self.row(row)

    def row(self, row: Any) -> LinkRow:
        """A ``LinkRow`` of a selected row of this table."""
        mapping = row._mapping
        return LinkRow(
            mapping[self.left.name],
            mapping[self.right.name],
            AttributeState(row.attributes, row.stamps),
            row.created_at,
            row.updated_at,
        )

    def put(
        self,
        conn: Connection,
        workspace_id: int,
        left: Any,
        right: int,
        state: AttributeState,
        now: Millis,
        existing: LinkRow | None,
    ) -> None:
        if existing is None:
            conn.execute(
                insert(self.table),
                {
                    "workspace_id": workspace_id,
                    self.left.name: left,
                    self.right.name: right,
                    "attributes": dict(state.values),
                    "stamps": dict(state.stamps),
                    "created_at": now,
                    "updated_at": now,
                },
            )
        else:
            conn.execute(
                self._update,
                {
                    "b_ws": workspace_id,
                    "b_left": left,
                    "b_right": right,
                    "attributes": dict(state.values),
                    "stamps": dict(state.stamps),
                    "now": now,
                },
            )

    def remove(self, conn: Connection, workspace_id: int, left: Any, right: int) -> bool:
        result = conn.execute(self._delete, {"b_ws": workspace_id, "b_left": left, "b_right": right})
        return bool(result.rowcount)

    def of_left(self, conn: Connection, workspace_id: int, left: Any) -> list[LinkRow]:
        rows = conn.execute(
            select(self.table)
            .where(self.table.c.workspace_id == workspace_id, self.left == left)
            .order_by(self.right)
        )
        return [self.row(r) for r in rows]

    def of_right(self, conn: Connection, workspace_id: int, right: int) -> list[LinkRow]:
        rows = conn.execute(
            select(self.table)
            .where(self.table.c.workspace_id == workspace_id, self.right == right)
            .order_by(self.left)
        )
        return [self.row(r) for r in rows]

    def of_left_with_type(self, conn: Connection, workspace_id: int, left: Any, type_pk: int) -> list[int]:
        """The objects of one type linked from ``left``."""
        return list(
            conn.execute(
                select(self.right)
                .join(objects, objects.c.pk == self.right)
                .where(
                    self.table.c.workspace_id == workspace_id, self.left == left, objects.c.type_pk == type_pk
                )
                .order_by(self.right)
            ).scalars()
        )

    def move_left(
        self,
        conn: Connection,
        workspace_id: int,
        old: Any,
        new: Any,
        merge: Mapping[int, AttributeState],
        now: Millis,
    ) -> int:
        """Give ``new`` every link of ``old``; pairs ``new`` already has get ``merge[right]`` attributes."""
        moved = 0
        for link in self.of_left(conn, workspace_id, old):
            mine = self.get(conn, workspace_id, new, link.right)
            if mine is None:
                conn.execute(
                    update(self.table).where(self._where_pair).values({self.left.name: bindparam("b_new")}),
                    {"b_ws": workspace_id, "b_left": old, "b_right": link.right, "b_new": new},
                )
                moved += 1
            else:
                self.put(conn, workspace_id, new, link.right, merge.get(link.right, mine.state), now, mine)
                self.remove(conn, workspace_id, old, link.right)
        return moved


PERSON_LINKS = Links(person_links, person_links.c.person_pk, person_links.c.object_pk)
ANONYMOUS_LINKS = Links(anonymous_links, anonymous_links.c.anonymous_id, anonymous_links.c.object_pk)
OBJECT_LINKS = Links(object_links, object_links.c.parent_pk, object_links.c.child_pk)
