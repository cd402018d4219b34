"""Template and snippet rows: current versions, the version history, soft deletes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, update

from relata.core.templates.graph import GraphEntity
from relata.core.times import Millis
from relata.storage.database import inserted_pk
from relata.storage.schema import object_types, objects
from relata.storage.schema_templates import snippet_versions, snippets, template_versions, templates
from relata.storage.template_graph import object_entity


@dataclass(frozen=True)
class StoredTemplate:
    """One version of a template. ``content`` is the channel's fields and ``required``."""

    id: int
    key: str
    channel: str
    name: str
    version: int
    content: Mapping[str, Any]
    created_at: Millis
    updated_at: Millis


@dataclass(frozen=True)
class VersionInfo:
    version: int
    channel: str
    name: str
    created_at: Millis


@dataclass(frozen=True)
class StoredSnippet:
    id: int
    name: str
    version: int
    source: str
    created_at: Millis
    updated_at: Millis


def _template(row: Any) -> StoredTemplate:
    return StoredTemplate(
        row.id, row.key, row.channel, row.name, row.version, dict(row.content), row.created_at, row.updated_at
    )


def get(conn: Connection, workspace_id: int, key: str, version: int | None = None) -> StoredTemplate | None:
    """The template's current version (or ``version``, which stays readable after a delete)."""
    row = conn.execute(
        select(templates).where(templates.c.workspace_id == workspace_id, templates.c.key == key)
    ).first()
    if row is None:
        return None
    if version is None:
        return None if row.deleted_at is not None else _template(row)
    old = conn.execute(
        select(template_versions).where(
            template_versions.c.template_id == row.id, template_versions.c.version == version
        )
    ).first()
    if old is None:
        return None
    return StoredTemplate(
        row.id, row.key, old.channel, old.name, old.version, dict(old.content), row.created_at, old.created_at
    )


def list_current(conn: Connection, workspace_id: int) -> list[StoredTemplate]:
    rows = conn.execute(
        select(templates)
        .where(templates.c.workspace_id == workspace_id, templates.c.deleted_at.is_(None))
        .order_by(templates.c.key)
    )
    return [_template(row) for row in rows]


def save(
    conn: Connection,
    workspace_id: int,
    key: str,
    channel: str,
    name: str,
    content: Mapping[str, Any],
    now: Millis,
) -> tuple[StoredTemplate, bool]:
    """Write a new version unless the current one is the same; ``(template, changed)``."""
    row = conn.execute(
        select(templates).where(templates.c.workspace_id == workspace_id, templates.c.key == key)
    ).first()
    values = {"channel": channel, "name": name, "content": dict(content)}
    if row is None:
        template_id = inserted_pk(
            conn.execute(
                insert(templates).values(
                    workspace_id=workspace_id, key=key, version=1, created_at=now, updated_at=now, **values
                )
            )
        )
        version, created_at = 1, now
    else:
        same = (row.channel, row.name, dict(row.content)) == (channel, name, dict(content))
        if row.deleted_at is None and same:
            return _template(row), False
        template_id, version, created_at = row.id, row.version + 1, row.created_at
        conn.execute(
            update(templates)
            .where(templates.c.id == row.id)
            .values(version=version, updated_at=now, deleted_at=None, **values)
        )
    conn.execute(
        insert(template_versions).values(template_id=template_id, version=version, created_at=now, **values)
    )
    return StoredTemplate(template_id, key, channel, name, version, dict(content), created_at, now), True


def delete(conn: Connection, workspace_id: int, key: str, now: Millis) -> bool:
    """Mark the template deleted (its versions stay); False when there is no such live template."""
    result = conn.execute(
        update(templates)
        .where(
            templates.c.workspace_id == workspace_id,
            templates.c.key == key,
            templates.c.deleted_at.is_(None),
        )
        .values(deleted_at=now, updated_at=now)
    )
    return bool(result.rowcount)


def versions(conn: Connection, template_id: int) -> list[VersionInfo]:
    rows = conn.execute(
        select(
            template_versions.c.version,
            template_versions.c.channel,
            template_versions.c.name,
            template_versions.c.created_at,
        )
        .where(template_versions.c.template_id == template_id)
        .order_by(template_versions.c.version)
    )
    return [VersionInfo(r.version, r.channel, r.name, r.created_at) for r in rows]


# --- snippets -------------------------------------------------------------------------------------


def _snippet(row: Any) -> StoredSnippet:
    return StoredSnippet(row.id, row.name, row.version, row.source, row.created_at, row.updated_at)


def get_snippet(conn: Connection, workspace_id: int, name: str) -> StoredSnippet | None:
    row = conn.execute(
        select(snippets).where(
            snippets.c.workspace_id == workspace_id, snippets.c.name == name, snippets.c.deleted_at.is_(None)
        )
    ).first()
    return None if row is None else _snippet(row)


def list_snippets(conn: Connection, workspace_id: int) -> list[StoredSnippet]:
    rows = conn.execute(
        select(snippets)
        .where(snippets.c.workspace_id == workspace_id, snippets.c.deleted_at.is_(None))
        .order_by(snippets.c.name)
    )
    return [_snippet(row) for row in rows]


def snippet_versions_in_force(conn: Connection, workspace_id: int) -> tuple[tuple[str, int], ...]:
    """``(name, version)`` of every live snippet: what an engine built from the snippets depends on."""
    rows = conn.execute(
        select(snippets.c.name, snippets.c.version)
        .where(snippets.c.workspace_id == workspace_id, snippets.c.deleted_at.is_(None))
        .order_by(snippets.c.name)
    )
    return tuple((str(r.name), int(r.version)) for r in rows)


def save_snippet(
    conn: Connection, workspace_id: int, name: str, source: str, now: Millis
) -> tuple[StoredSnippet, bool]:
    row = conn.execute(
        select(snippets).where(snippets.c.workspace_id == workspace_id, snippets.c.name == name)
    ).first()
    if row is None:
        snippet_id = inserted_pk(
            conn.execute(
                insert(snippets).values(
                    workspace_id=workspace_id,
                    name=name,
                    version=1,
                    source=source,
                    created_at=now,
                    updated_at=now,
                )
            )
        )
        version, created_at = 1, now
    else:
        if row.deleted_at is None and row.source == source:
            return _snippet(row), False
        snippet_id, version, created_at = row.id, row.version + 1, row.created_at
        conn.execute(
            update(snippets)
            .where(snippets.c.id == row.id)
            .values(version=version, source=source, updated_at=now, deleted_at=None)
        )
    conn.execute(
        insert(snippet_versions).values(snippet_id=snippet_id, version=version, source=source, created_at=now)
    )
    return StoredSnippet(snippet_id, name, version, source, created_at, now), True


def delete_snippet(conn: Connection, workspace_id: int, name: str, now: Millis) -> bool:
    result = conn.execute(
        update(snippets)
        .where(
            snippets.c.workspace_id == workspace_id, snippets.c.name == name, snippets.c.deleted_at.is_(None)
        )
        .values(deleted_at=now, updated_at=now)
    )
    return bool(result.rowcount)


# --- preview lookups ------------------------------------------------------------------------------


def object_by_cio_id(conn: Connection, workspace_id: int, cio_object_id: str) -> GraphEntity | None:
    """An object by its ``cio_object_id`` as a template sees it (``StorageGraph`` finds by type and id)."""
    row = conn.execute(
        select(
            objects.c.pk,
            objects.c.object_id,
            objects.c.cio_object_id,
            objects.c.attributes,
            object_types.c.name.label("type_name"),
        )
        .join(object_types, object_types.c.id == objects.c.type_pk)
        .where(objects.c.workspace_id == workspace_id, objects.c.cio_object_id == cio_object_id)
    ).first()
    return None if row is None else object_entity(row, str(row.type_name))
