"""Workspaces and their API keys."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select

from relata.core.model import Workspace
from relata.core.times import Millis
from relata.storage.database import inserted_pk
from relata.storage.schema import api_keys, workspaces

KEY_KINDS = ("track", "pipelines", "app")


@dataclass(frozen=True)
class Credentials:
    workspace: Workspace
    site_id: str
    track_api_key: str
    pipelines_write_key: str
    app_api_key: str


def key_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _workspace(row: object) -> Workspace:
    return Workspace(row.id, row.name, row.timezone)  # type: ignore[attr-defined]


def create(conn: Connection, name: str, now: Millis, timezone: str = "UTC") -> Credentials:
    workspace_id = inserted_pk(
        conn.execute(insert(workspaces).values(name=name, timezone=timezone, created_at=now))
    )
    site_id = secrets.token_hex(10)
    secrets_by_kind = {kind: secrets.token_hex(20) for kind in KEY_KINDS}
    for kind, secret in secrets_by_kind.items():
        conn.execute(
            insert(api_keys).values(
                workspace_id=workspace_id,
                kind=kind,
                site_id=site_id if kind == "track" else None,
                secret=secret,
                secret_hash=key_hash(secret),
                created_at=now,
            )
        )
    return Credentials(
        Workspace(workspace_id, name, timezone),
        site_id,
        secrets_by_kind["track"],
        secrets_by_kind["pipelines"],
        secrets_by_kind["app"],
    )


def all_workspaces(conn: Connection) -> list[Workspace]:
    return [_workspace(r) for r in conn.execute(select(workspaces).order_by(workspaces.c.id))]


def find(conn: Connection, ref: str) -> Workspace | None:
    """A workspace by name or numeric id."""
    column = workspaces.c.id if ref.isdigit() else workspaces.c.name
    row = conn.execute(select(workspaces).where(column == (int(ref) if ref.isdigit() else ref))).first()
    return None if row is None else _workspace(row)


def credentials(conn: Connection, workspace: Workspace) -> Credentials:
    rows = conn.execute(
        select(api_keys)
        .where(api_keys.c.workspace_id == workspace.id, api_keys.c.revoked_at.is_(None))
        .order_by(api_keys.c.id)
    ).all()
    newest = {r.kind: r for r in rows}
    return Credentials(
        workspace,
        newest["track"].site_id,
        newest["track"].secret,
        newest["pipelines"].secret,
        newest["app"].secret,
    )


@dataclass(frozen=True)
class KeyRecord:
    workspace: Workspace
    kind: str
    site_id: str | None
    secret: str


def key_by_hash(conn: Connection, digest: str) -> KeyRecord | None:
    row = conn.execute(
        select(api_keys, workspaces.c.name, workspaces.c.timezone)
        .join(workspaces, workspaces.c.id == api_keys.c.workspace_id)
        .where(api_keys.c.secret_hash == digest, api_keys.c.revoked_at.is_(None))
    ).first()
    if row is None:
        return None
    return KeyRecord(Workspace(row.workspace_id, row.name, row.timezone), row.kind, row.site_id, row.secret)
