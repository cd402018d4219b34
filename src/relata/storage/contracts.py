"""Contract versions and recorded contract violations."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from relata.core.times import Millis
from relata.storage.schema import contracts, violations

MAX_SAMPLES = 5


def current(conn: Connection, workspace_id: int) -> tuple[int, Mapping[str, Any]] | None:
    """The newest contract version and document, or None before any was applied."""
    row = conn.execute(
        select(contracts.c.version, contracts.c.document)
        .where(contracts.c.workspace_id == workspace_id)
        .order_by(contracts.c.version.desc())
        .limit(1)
    ).first()
    return None if row is None else (row.version, row.document)


def current_version(conn: Connection, workspace_id: int) -> int:
    return int(
        conn.execute(
            select(func.coalesce(func.max(contracts.c.version), 0)).where(
                contracts.c.workspace_id == workspace_id
            )
        ).scalar_one()
    )


def add_version(conn: Connection, workspace_id: int, document: Mapping[str, Any], now: Millis) -> int:
    version = current_version(conn, workspace_id) + 1
    conn.execute(
        insert(contracts).values(
            workspace_id=workspace_id, version=version, document=dict(document), created_at=now
        )
    )
    return version


def versions(conn: Connection, workspace_id: int) -> list[tuple[int, Millis]]:
    rows = conn.execute(
        select(contracts.c.version, contracts.c.created_at)
        .where(contracts.c.workspace_id == workspace_id)
        .order_by(contracts.c.version)
    )
    return [(r.version, r.created_at) for r in rows]


def record_violation(
    conn: Connection,
    workspace_id: int,
    type_name: str,
    attribute: str | None,
    kind: str,
    message: str,
    sample: Mapping[str, Any],
    rejected: bool,
    now: Millis,
) -> None:
    key = (
        (violations.c.workspace_id == workspace_id)
        & (violations.c.type_name == type_name)
        & (violations.c.attribute == (attribute or ""))
        & (violations.c.kind == kind)
    )
    row = conn.execute(select(violations.c.id, violations.c.samples).where(key)).first()
    if row is None:
        conn.execute(
            insert(violations).values(
                workspace_id=workspace_id,
                type_name=type_name,
                attribute=attribute or "",
                kind=kind,
                count=1,
                rejected=int(rejected),
                first_seen=now,
                last_seen=now,
                last_message=message,
                samples=[dict(sample)],
            )
        )
        return
    samples = list(row.samples)
    if len(samples) < MAX_SAMPLES:
        samples.append(dict(sample))
    conn.execute(
        update(violations)
        .where(violations.c.id == row.id)
        .values(
            count=violations.c.count + 1,
            rejected=violations.c.rejected + int(rejected),
            last_seen=now,
            last_message=message,
            samples=samples,
        )
    )


def list_violations(conn: Connection, workspace_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(violations)
        .where(violations.c.workspace_id == workspace_id)
        .order_by(violations.c.type_name, violations.c.attribute, violations.c.kind)
    )
    return [
        {
            "type": r.type_name,
            "attribute": r.attribute or None,
            "kind": r.kind,
            "count": r.count,
            "rejected": r.rejected,
            "first_seen": r.first_seen,
            "last_seen": r.last_seen,
            "message": r.last_message,
            "samples": r.samples,
        }
        for r in rows
    ]
