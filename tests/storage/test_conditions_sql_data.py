"""Rows for condition tests, inserted directly into the schema tables (a helper, no tests)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, insert

from relata.storage.schema import (
    events,
    object_links,
    object_types,
    objects,
    people,
    person_links,
    workspaces,
)

_counter = itertools.count(1)


class Graph:
    """Inserts a workspace, its object types, people, objects, links and events."""

    def __init__(
        self, conn: Connection, types: Mapping[str, str] | None = None, name: str | None = None
    ) -> None:
        self.conn = conn
        self.workspace_id = int(
            conn.execute(
                insert(workspaces).values(name=name or f"ws-{next(_counter)}", created_at=0)
            ).inserted_primary_key[0]
        )
        self.types: dict[str, int] = {}
        for type_name, type_id in (types or {}).items():
            self.add_type(type_name, type_id)

    def add_type(self, name: str, type_id: str) -> int:
        pk = int(
            self.conn.execute(
                insert(object_types).values(
                    workspace_id=self.workspace_id, type_id=type_id, name=name, created_at=0
                )
            ).inserted_primary_key[0]
        )
        self.types[name] = pk
        return pk

    def person(
        self,
        attributes: Mapping[str, Any] | None = None,
        *,
        ident: str | None = None,
        email: str | None = None,
    ) -> int:
        n = next(_counter)
        return int(
            self.conn.execute(
                insert(people).values(
                    workspace_id=self.workspace_id,
                    cio_id=f"cio{n}",
                    ident=ident,
                    email=email,
                    email_key=email.lower() if email else None,
                    attributes=dict(attributes or {}),
                    stamps={},
                    created_at=0,
                    updated_at=0,
                )
            ).inserted_primary_key[0]
        )

    def object(
        self, type_name: str, attributes: Mapping[str, Any] | None = None, object_id: str | None = None
    ) -> int:
        n = next(_counter)
        return int(
            self.conn.execute(
                insert(objects).values(
                    workspace_id=self.workspace_id,
                    type_pk=self.types[type_name],
                    object_id=object_id or f"{type_name}_{n}",
                    cio_object_id=f"obj{n}",
                    attributes=dict(attributes or {}),
                    stamps={},
                    created_at=0,
                    updated_at=0,
                )
            ).inserted_primary_key[0]
        )

    def link(self, person_pk: int, object_pk: int, attributes: Mapping[str, Any] | None = None) -> None:
        self.conn.execute(
            insert(person_links).values(
                workspace_id=self.workspace_id,
                person_pk=person_pk,
                object_pk=object_pk,
                attributes=dict(attributes or {}),
                stamps={},
                created_at=0,
                updated_at=0,
            )
        )

    def child(self, parent_pk: int, child_pk: int, attributes: Mapping[str, Any] | None = None) -> None:
        self.conn.execute(
            insert(object_links).values(
                workspace_id=self.workspace_id,
                parent_pk=parent_pk,
                child_pk=child_pk,
                attributes=dict(attributes or {}),
                stamps={},
                created_at=0,
                updated_at=0,
            )
        )

    def event(self, person_pk: int, name: str, timestamp: int, data: Mapping[str, Any] | None = None) -> None:
        self.conn.execute(
            insert(events).values(
                workspace_id=self.workspace_id,
                person_pk=person_pk,
                name=name,
                type="event",
                data=dict(data or {}),
                timestamp=timestamp,
                received_at=timestamp,
            )
        )
