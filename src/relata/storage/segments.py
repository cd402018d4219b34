"""Rows of segments: definitions and versions, members, history, change-log cursors and re-checks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, delete, exists, false, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.selectable import FromClause

from relata.core.times import Millis
from relata.storage import activity
from relata.storage.conditions_sql import ConditionCompiler
from relata.storage.conditions_values import Bool
from relata.storage.database import inserted_pk
from relata.storage.schema import people, workspaces
from relata.storage.schema_segments import (
    segment_cursors,
    segment_history,
    segment_members,
    segment_rechecks,
    segment_versions,
    segments,
)

DYNAMIC = "dynamic"
MANUAL = "manual"


@dataclass(frozen=True)
class SegmentRow:
    pk: int
    workspace_id: int
    key: str
    name: str
    kind: str
    description: str
    condition: Mapping[str, Any] | None
    version: int
    refreshed_version: int
    time_relative: bool
    swept_at: Millis
    created_at: Millis
    updated_at: Millis
    deleted_at: Millis | None

    @property
    def dynamic(self) -> bool:
        return self.kind == DYNAMIC


@dataclass(frozen=True)
class HistoryRow:
    id: int
    segment_key: str
    person_pk: int
    cio_id: str | None
    action: str
    at: Millis
    cause: Mapping[str, Any]


def _row(r: Any) -> SegmentRow:
    return SegmentRow(
        r.id,
        r.workspace_id,
        r.key,
        r.name,
        r.kind,
        r.description,
        r.condition,
        r.version,
        r.refreshed_version,
        bool(r.time_relative),
        r.swept_at,
        r.created_at,
        r.updated_at,
        r.deleted_at,
    )


# --- definitions ----------------------------------------------------------------------------------


def find(conn: Connection, workspace_id: int, key: str, *, deleted: bool = False) -> SegmentRow | None:
    query = select(segments).where(segments.c.workspace_id == workspace_id, segments.c.key == key)
    if not deleted:
        query = query.where(segments.c.deleted_at.is_(None))
    found = conn.execute(query).first()
    return _row(found) if found is not None else None


def by_pk(conn: Connection, pk: int) -> SegmentRow | None:
    found = conn.execute(select(segments).where(segments.c.id == pk)).first()
    return _row(found) if found is not None else None


def all_segments(conn: Connection, workspace_id: int, kind: str | None = None) -> list[SegmentRow]:
    query = select(segments).where(segments.c.workspace_id == workspace_id, segments.c.deleted_at.is_(None))
    if kind is not None:
        query = query.where(segments.c.kind == kind)
    return [_row(r) for r in conn.execute(query.order_by(segments.c.key))]


def stale(conn: Connection, workspace_id: int) -> list[SegmentRow]:
    """Dynamic segments whose newest version has not been refreshed in bulk yet."""
    query = select(segments).where(
        segments.c.workspace_id == workspace_id,
        segments.c.deleted_at.is_(None),
        segments.c.kind == DYNAMIC,
        segments.c.refreshed_version < segments.c.version,
    )
    return [_row(r) for r in conn.execute(query.order_by(segments.c.id))]


def save(
    conn: Connection,
    workspace_id: int,
    key: str,
    *,
    name: str,
    kind: str,
    description: str,
    condition: Mapping[str, Any] | None,
    time_relative: bool,
    now: Millis,
) -> tuple[SegmentRow, bool]:
    """Create or update; returns the row and whether a new version was written."""
    current = find(conn, workspace_id, key, deleted=True)
    values = {
        "name": name,
        "kind": kind,
        "description": description,
        "condition": dict(condition) if condition is not None else None,
        "time_relative": int(time_relative),
        "updated_at": now,
    }
    if current is None:
        pk = inserted_pk(
            conn.execute(
                insert(segments).values(
                    workspace_id=workspace_id,
                    key=key,
                    version=1,
                    refreshed_version=0,
                    created_at=now,
                    **values,
                )
            )
        )
        version = 1
    else:
        pk = current.pk
        same = (
            current.deleted_at is None
            and current.name == name
            and current.kind == kind
            and current.description == description
            and current.condition == values["condition"]
        )
        if same:
            return current, False
        version = current.version + 1
        conn.execute(
            update(segments).where(segments.c.id == pk).values(version=version, deleted_at=None, **values)
        )
        if current.kind != kind or current.deleted_at is not None:
            clear_members(conn, pk)
    conn.execute(
        insert(segment_versions).values(
            segment_id=pk,
            version=version,
            name=name,
            kind=kind,
            condition=values["condition"],
            created_at=now,
        )
    )
    saved = by_pk(conn, pk)
    assert saved is not None
    return saved, True


def mark_refreshed(conn: Connection, segment_pk: int, version: int, now: Millis) -> None:
    conn.execute(
        update(segments).where(segments.c.id == segment_pk).values(refreshed_version=version, swept_at=now)
    )


def mark_swept(conn: Connection, segment_pk: int, now: Millis) -> None:
    conn.execute(update(segments).where(segments.c.id == segment_pk).values(swept_at=now))


def mark_deleted(conn: Connection, segment_pk: int, now: Millis) -> None:
    conn.execute(update(segments).where(segments.c.id == segment_pk).values(deleted_at=now, updated_at=now))
    clear_members(conn, segment_pk)


def clear_members(conn: Connection, segment_pk: int) -> None:
    conn.execute(delete(segment_members).where(segment_members.c.segment_id == segment_pk))
    conn.execute(delete(segment_rechecks).where(segment_rechecks.c.segment_id == segment_pk))


def versions(conn: Connection, segment_pk: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(segment_versions)
        .where(segment_versions.c.segment_id == segment_pk)
        .order_by(segment_versions.c.version)
    )
    return [
        {
            "version": r.version,
            "name": r.name,
            "kind": r.kind,
            "condition": r.condition,
            "created_at": r.created_at,
        }
        for r in rows
    ]


def member_counts(conn: Connection, workspace_id: int) -> dict[int, int]:
    rows = conn.execute(
        select(segment_members.c.segment_id, func.count())
        .where(segment_members.c.workspace_id == workspace_id)
        .group_by(segment_members.c.segment_id)
    )
    return {int(r[0]): int(r[1]) for r in rows}


def workspace_ids(conn: Connection) -> list[int]:
    return [int(r[0]) for r in conn.execute(select(workspaces.c.id).order_by(workspaces.c.id))]


def workspaces_with_segments(conn: Connection) -> list[int]:
    query = select(segments.c.workspace_id).where(segments.c.deleted_at.is_(None)).distinct()
    return sorted(int(r[0]) for r in conn.execute(query))


def has_segments(conn: Connection, workspace_id: int) -> bool:
    query = select(segments.c.id).where(segments.c.workspace_id == workspace_id).limit(1)
    return conn.execute(query).first() is not None


class StoredSegments:
    """``segment`` leaves read the membership table (a ``SegmentSource`` for both executors)."""

    def __init__(self, conn: Connection, workspace_id: int) -> None:
        found = conn.execute(
            select(segments.c.key, segments.c.id).where(
                segments.c.workspace_id == workspace_id, segments.c.deleted_at.is_(None)
            )
        )
        self.keys = {r[0]: int(r[1]) for r in found}

    def predicate(self, segment_id: str, compiler: ConditionCompiler, person: FromClause) -> Bool:
        pk = self.keys.get(segment_id)
        if pk is None:
            return false()
        return exists(
            select(segment_members.c.person_pk).where(
                segment_members.c.segment_id == pk, segment_members.c.person_pk == person.c.pk
            )
        )


# --- members --------------------------------------------------------------------------------------


def members_among(conn: Connection, segment_pk: int, person_pks: Iterable[int]) -> set[int]:
    pks = sorted(set(person_pks))
    found: set[int] = set()
    for start in range(0, len(pks), 500):
        chunk = pks[start : start + 500]
        found.update(
            int(r[0])
            for r in conn.execute(
                select(segment_members.c.person_pk).where(
                    segment_members.c.segment_id == segment_pk, segment_members.c.person_pk.in_(chunk)
                )
            )
        )
    return found


def all_members(conn: Connection, segment_pk: int) -> set[int]:
    rows = conn.execute(select(segment_members.c.person_pk).where(segment_members.c.segment_id == segment_pk))
    return {int(r[0]) for r in rows}


def segments_of_person(
    conn: Connection, workspace_id: int, person_pk: int
) -> list[tuple[SegmentRow, Millis]]:
    rows = conn.execute(
        select(segments, segment_members.c.entered_at)
        .select_from(segment_members.join(segments, segments.c.id == segment_members.c.segment_id))
        .where(segment_members.c.workspace_id == workspace_id, segment_members.c.person_pk == person_pk)
        .order_by(segments.c.key)
    )
    return [(_row(r), r.entered_at) for r in rows]


def members_page(conn: Connection, segment_pk: int, after: int | None, limit: int) -> list[Any]:
    """Members in person-pk order with their identifiers: rows of (pk, cio_id, ident, email, entered_at)."""
    query = (
        select(people.c.pk, people.c.cio_id, people.c.ident, people.c.email, segment_members.c.entered_at)
        .select_from(segment_members.join(people, people.c.pk == segment_members.c.person_pk))
        .where(segment_members.c.segment_id == segment_pk)
    )
    if after is not None:
        query = query.where(segment_members.c.person_pk > after)
    return list(conn.execute(query.order_by(segment_members.c.person_pk).limit(limit)))


def record(
    conn: Connection,
    workspace_id: int,
    segment: SegmentRow,
    entered: Sequence[tuple[int, str | None]],
    exited: Sequence[tuple[int, str | None]],
    at: Millis,
    cause: Mapping[str, Any],
) -> None:
    """Entries and exits of ``segment``: members, history and the change log (``segment_entered`` /
    ``segment_exited``, entity person, data ``{segment, cause}``), all in the caller's transaction."""
    if not entered and not exited:
        return
    if entered:
        conn.execute(
            insert(segment_members),
            [
                {"segment_id": segment.pk, "person_pk": pk, "workspace_id": workspace_id, "entered_at": at}
                for pk, _ in entered
            ],
        )
    gone = [pk for pk, _ in exited]
    for start in range(0, len(gone), 500):
        conn.execute(
            delete(segment_members).where(
                segment_members.c.segment_id == segment.pk,
                segment_members.c.person_pk.in_(gone[start : start + 500]),
            )
        )
    history = []
    changes = []
    for action, people_ in (("entered", entered), ("exited", exited)):
        for pk, cio_id in people_:
            history.append(
                {
                    "workspace_id": workspace_id,
                    "segment_id": segment.pk,
                    "person_pk": pk,
                    "cio_id": cio_id,
                    "action": action,
                    "at": at,
                    "cause": dict(cause),
                }
            )
            changes.append(
                activity.change_row(
                    workspace_id,
                    at,
                    f"segment_{action}",
                    "person",
                    person_pk=pk,
                    data={"segment": segment.key, "cause": dict(cause)},
                )
            )
    conn.execute(insert(segment_history), history)
    activity.append_changes(conn, changes)


def memberships_of(conn: Connection, workspace_id: int, person_pk: int) -> list[SegmentRow]:
    return [row for row, _ in segments_of_person(conn, workspace_id, person_pk)]


def history_page(
    conn: Connection,
    workspace_id: int,
    *,
    segment_pk: int | None = None,
    person_pk: int | None = None,
    before: int | None,
    limit: int,
) -> list[HistoryRow]:
    """Newest first."""
    query = (
        select(segment_history, segments.c.key)
        .select_from(segment_history.join(segments, segments.c.id == segment_history.c.segment_id))
        .where(segment_history.c.workspace_id == workspace_id)
    )
    if segment_pk is not None:
        query = query.where(segment_history.c.segment_id == segment_pk)
    if person_pk is not None:
        query = query.where(segment_history.c.person_pk == person_pk)
    if before is not None:
        query = query.where(segment_history.c.id < before)
    rows = conn.execute(query.order_by(segment_history.c.id.desc()).limit(limit))
    return [HistoryRow(r.id, r.key, r.person_pk, r.cio_id, r.action, r.at, r.cause) for r in rows]


def person_identities(conn: Connection, workspace_id: int, pks: Iterable[int]) -> dict[int, str]:
    """cio_id of each person that still exists."""
    wanted = sorted(set(pks))
    found: dict[int, str] = {}
    for start in range(0, len(wanted), 500):
        rows = conn.execute(
            select(people.c.pk, people.c.cio_id).where(
                people.c.workspace_id == workspace_id, people.c.pk.in_(wanted[start : start + 500])
            )
        )
        found.update({int(r[0]): r[1] for r in rows})
    return found


# --- the change-log cursor ------------------------------------------------------------------------


def ensure_cursors(conn: Connection, workspace_ids: Iterable[int], now: Millis) -> None:
    rows = [{"workspace_id": ws, "seq": 0, "updated_at": now} for ws in workspace_ids]
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        conn.execute(postgresql.insert(segment_cursors).on_conflict_do_nothing(), rows)
    else:
        conn.execute(sqlite.insert(segment_cursors).on_conflict_do_nothing(), rows)


def cursors(conn: Connection) -> dict[int, int]:
    return {
        int(r[0]): int(r[1])
        for r in conn.execute(select(segment_cursors.c.workspace_id, segment_cursors.c.seq))
    }


def claim(conn: Connection, workspace_id: int, *, wait: bool = False) -> int | None:
    """Lock the workspace's cursor row for this transaction and return its seq; None when another worker
    holds it (PostgreSQL ``FOR UPDATE SKIP LOCKED``; SQLite has one writer, whose lock the caller holds)."""
    query = select(segment_cursors.c.seq).where(segment_cursors.c.workspace_id == workspace_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=not wait)
    found = conn.execute(query).first()
    if found is None:
        ensure_cursors(conn, [workspace_id], 0)
        found = conn.execute(query).first()
    return int(found[0]) if found is not None else None


def advance(conn: Connection, workspace_id: int, seq: int, now: Millis) -> None:
    conn.execute(
        update(segment_cursors)
        .where(segment_cursors.c.workspace_id == workspace_id)
        .values(seq=seq, updated_at=now)
    )


# --- re-checks ------------------------------------------------------------------------------------


def schedule(conn: Connection, workspace_id: int, segment_pk: int, due: Mapping[int, Millis | None]) -> None:
    """Set (or, with None, clear) when each person's membership of the segment must be re-checked."""
    pks = sorted(due)
    for start in range(0, len(pks), 500):
        conn.execute(
            delete(segment_rechecks).where(
                segment_rechecks.c.segment_id == segment_pk,
                segment_rechecks.c.person_pk.in_(pks[start : start + 500]),
            )
        )
    rows = [
        {"segment_id": segment_pk, "person_pk": pk, "workspace_id": workspace_id, "due_at": at}
        for pk, at in due.items()
        if at is not None
    ]
    if rows:
        conn.execute(insert(segment_rechecks), rows)


def due_rechecks(conn: Connection, workspace_id: int, now: Millis, limit: int) -> list[tuple[int, int]]:
    rows = conn.execute(
        select(segment_rechecks.c.segment_id, segment_rechecks.c.person_pk)
        .where(segment_rechecks.c.workspace_id == workspace_id, segment_rechecks.c.due_at <= now)
        .order_by(segment_rechecks.c.due_at)
        .limit(limit)
    )
    return [(int(r[0]), int(r[1])) for r in rows]


def workspaces_with_due_rechecks(conn: Connection, now: Millis) -> list[int]:
    rows = conn.execute(
        select(segment_rechecks.c.workspace_id).where(segment_rechecks.c.due_at <= now).distinct()
    )
    return [int(r[0]) for r in rows]


def forget_person(conn: Connection, workspace_id: int, person_pk: int) -> list[SegmentRow]:
    """Remove a person's memberships and re-checks (they were deleted); returns the segments they left.

    The caller records the exits (history and change log) with ``record``, which deletes the members."""
    left = memberships_of(conn, workspace_id, person_pk)
    conn.execute(
        delete(segment_rechecks).where(
            and_(segment_rechecks.c.workspace_id == workspace_id, segment_rechecks.c.person_pk == person_pk)
        )
    )
    return left
