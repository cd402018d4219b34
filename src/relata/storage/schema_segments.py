"""Tables of segments (see ``relata.storage.schema`` for the conventions).

- ``segments``: one row per ``(workspace, key)`` holding the newest version; every change appends a row
  to ``segment_versions``. Deleting marks the row deleted (versions and history stay).
- ``segment_members``: who is in a segment now (no foreign key to ``people``: a deleted person's rows
  are removed by the membership engine when it reads the deletion, which records the exit).
- ``segment_history``: every entry and exit, with its cause (a change-log seq and op, ``refresh``,
  ``time`` or ``manual``).
- ``segment_cursors``: per workspace, the change-log seq the membership engine has processed.
- ``segment_rechecks``: when a (segment, person) can next flip by the passing of time alone.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
)

from relata.storage.schema import Json, Ms, _ws, metadata

segments = Table(
    "segments",
    metadata,
    Column("id", Integer, primary_key=True),
    _ws(),
    Column("key", String(100), nullable=False),
    Column("name", String(200), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("description", String(1000), nullable=False, server_default=""),
    Column("condition", Json, nullable=True),
    Column("version", Integer, nullable=False),
    Column("refreshed_version", Integer, nullable=False, server_default="0"),
    Column("time_relative", Integer, nullable=False, server_default="0"),
    Column("swept_at", Ms, nullable=False, server_default="0"),
    Column("created_at", Ms, nullable=False),
    Column("updated_at", Ms, nullable=False),
    Column("deleted_at", Ms, nullable=True),
    UniqueConstraint("workspace_id", "key", name="uq_segments_key"),
)

segment_versions = Table(
    "segment_versions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("segment_id", Integer, ForeignKey("segments.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("name", String(200), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("condition", Json, nullable=True),
    Column("created_at", Ms, nullable=False),
    UniqueConstraint("segment_id", "version", name="uq_segment_versions_version"),
)

segment_members = Table(
    "segment_members",
    metadata,
    Column("segment_id", Integer, ForeignKey("segments.id", ondelete="CASCADE"), nullable=False),
    Column("person_pk", BigInteger, nullable=False),
    _ws(),
    Column("entered_at", Ms, nullable=False),
    PrimaryKeyConstraint("segment_id", "person_pk", name="pk_segment_members"),
    Index("ix_segment_members_person", "person_pk"),
)

segment_history = Table(
    "segment_history",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    _ws(),
    Column("segment_id", Integer, ForeignKey("segments.id", ondelete="CASCADE"), nullable=False),
    Column("person_pk", BigInteger, nullable=False),
    Column("cio_id", String(40), nullable=True),
    Column("action", String(8), nullable=False),
    Column("at", Ms, nullable=False),
    Column("cause", Json, nullable=False),
    Index("ix_segment_history_segment", "segment_id", "id"),
    Index("ix_segment_history_person", "workspace_id", "person_pk", "id"),
    sqlite_autoincrement=True,
)

segment_cursors = Table(
    "segment_cursors",
    metadata,
    Column("workspace_id", Integer, ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("updated_at", Ms, nullable=False),
)

segment_rechecks = Table(
    "segment_rechecks",
    metadata,
    Column("segment_id", Integer, ForeignKey("segments.id", ondelete="CASCADE"), nullable=False),
    Column("person_pk", BigInteger, nullable=False),
    _ws(),
    Column("due_at", Ms, nullable=False),
    PrimaryKeyConstraint("segment_id", "person_pk", name="pk_segment_rechecks"),
    Index("ix_segment_rechecks_due", "workspace_id", "due_at"),
)

__all__ = [
    "metadata",
    "segment_cursors",
    "segment_history",
    "segment_members",
    "segment_rechecks",
    "segment_versions",
    "segments",
]
