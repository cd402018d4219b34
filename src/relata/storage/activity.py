"""Events, devices, suppressions and the change log."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from relata.core.model import Change, Device, Event
from relata.core.times import Millis
from relata.storage.database import executemany
from relata.storage.schema import changes, devices, events, suppressions

# --- events ---------------------------------------------------------------------------------------


def adopt_anonymous_events(conn: Connection, workspace_id: int, anonymous_id: str, person_pk: int) -> int:
    return conn.execute(
        update(events)
        .where(
            events.c.workspace_id == workspace_id,
            events.c.anonymous_id == anonymous_id,
            events.c.person_pk.is_(None),
        )
        .values(person_pk=person_pk)
    ).rowcount


def move_events(conn: Connection, from_pk: int, to_pk: int) -> int:
    return conn.execute(update(events).where(events.c.person_pk == from_pk).values(person_pk=to_pk)).rowcount


def events_of(
    conn: Connection, workspace_id: int, person_pk: int, limit: int = 100, before: int | None = None
) -> list[Event]:
    query = select(events).where(events.c.workspace_id == workspace_id, events.c.person_pk == person_pk)
    if before is not None:
        query = query.where(events.c.pk < before)
    rows = conn.execute(query.order_by(events.c.pk.desc()).limit(limit))
    return [
        Event(r.pk, r.person_pk, r.anonymous_id, r.name, r.type, r.data, r.timestamp, r.dedupe_id)
        for r in rows
    ]


# --- devices --------------------------------------------------------------------------------------


def put_device(conn: Connection, workspace_id: int, person_pk: int, device: Device, now: Millis) -> None:
    """Add or update a device; a token moves to the person who registers it last."""
    where = (devices.c.workspace_id == workspace_id) & (devices.c.token == device.token)
    values = {
        "person_pk": person_pk,
        "platform": device.platform,
        "last_used": device.last_used,
        "attributes": dict(device.attributes),
        "updated_at": now,
    }
    if conn.execute(update(devices).where(where).values(values)).rowcount == 0:
        conn.execute(insert(devices).values(workspace_id=workspace_id, token=device.token, **values))


def remove_device(conn: Connection, workspace_id: int, person_pk: int, token: str) -> bool:
    return bool(
        conn.execute(
            delete(devices).where(
                devices.c.workspace_id == workspace_id,
                devices.c.person_pk == person_pk,
                devices.c.token == token,
            )
        ).rowcount
    )


def devices_of(conn: Connection, person_pk: int) -> list[Device]:
    rows = conn.execute(select(devices).where(devices.c.person_pk == person_pk).order_by(devices.c.token))
    return [Device(r.token, r.platform, r.last_used, r.attributes) for r in rows]


def move_devices(conn: Connection, from_pk: int, to_pk: int) -> None:
    conn.execute(update(devices).where(devices.c.person_pk == from_pk).values(person_pk=to_pk))


# --- suppressions ---------------------------------------------------------------------------------


def is_suppressed(conn: Connection, workspace_id: int, identifiers: Sequence[tuple[str, str]]) -> bool:
    for kind, value in identifiers:
        if (
            conn.execute(
                select(suppressions.c.kind).where(
                    suppressions.c.workspace_id == workspace_id,
                    suppressions.c.kind == kind,
                    suppressions.c.value == value,
                )
            ).first()
            is not None
        ):
            return True
    return False


def suppress(
    conn: Connection, workspace_id: int, identifiers: Sequence[tuple[str, str]], now: Millis
) -> None:
    for kind, value in identifiers:
        if not is_suppressed(conn, workspace_id, [(kind, value)]):
            conn.execute(
                insert(suppressions).values(workspace_id=workspace_id, kind=kind, value=value, created_at=now)
            )


def unsuppress(conn: Connection, workspace_id: int, identifiers: Sequence[tuple[str, str]]) -> int:
    removed = 0
    for kind, value in identifiers:
        removed += conn.execute(
            delete(suppressions).where(
                suppressions.c.workspace_id == workspace_id,
                suppressions.c.kind == kind,
                suppressions.c.value == value,
            )
        ).rowcount
    return removed


# --- change log -----------------------------------------------------------------------------------


def change_row(
    workspace_id: int,
    at: Millis,
    op: str,
    entity: str,
    *,
    person_pk: int | None = None,
    object_pk: int | None = None,
    other_pk: int | None = None,
    diff: Mapping[str, Any] | None = None,
    data: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One change-log row, to be written with ``append_changes``."""
    return {
        "workspace_id": workspace_id,
        "at": at,
        "op": op,
        "entity": entity,
        "person_pk": person_pk,
        "object_pk": object_pk,
        "other_pk": other_pk,
        "diff": dict(diff or {}),
        "data": dict(data or {}),
    }


_INSERT_CHANGES = insert(changes)


def append_changes(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Append change-log rows in order, in one ``executemany``."""
    executemany(conn, _INSERT_CHANGES, rows)


def change_from_row(r: Any) -> Change:
    return Change(r.seq, r.at, r.op, r.entity, r.person_pk, r.object_pk, r.other_pk, r.diff, r.data)


def history(
    conn: Connection,
    workspace_id: int,
    *,
    person_pk: int | None = None,
    object_pk: int | None = None,
    limit: int = 100,
    before: int | None = None,
) -> list[Change]:
    """Newest first. For an object, changes where it is the subject or the parent of a link."""
    query = select(changes).where(changes.c.workspace_id == workspace_id)
    if person_pk is not None:
        query = query.where(changes.c.person_pk == person_pk)
    if object_pk is not None:
        query = query.where((changes.c.object_pk == object_pk) | (changes.c.other_pk == object_pk))
    if before is not None:
        query = query.where(changes.c.seq < before)
    return [change_from_row(r) for r in conn.execute(query.order_by(changes.c.seq.desc()).limit(limit))]


def diff_json(diff: Mapping[str, tuple[Any, Any]]) -> dict[str, list[Any]]:
    return {name: [old, new] for name, (old, new) in diff.items()}
