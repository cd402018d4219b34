"""Reading the change log for the membership engine: how far it is complete, and the next batch.

PostgreSQL hands out seqs at insert and commits in any order, so the engine reads only up to the
*horizon* (``Horizon``), below which every seq is committed or known to be missing; ``read_batch``
reads the rows of one workspace past its cursor, up to the horizon.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select, text

from relata.storage.schema import changes

# The transactions that may still commit a seq handed out so far: those holding a lock on the change
# log's sequence (``nextval`` takes it and keeps it to the end of the transaction) or on the table
# (an insert takes it before its default calls ``nextval``). Prepared transactions keep their locks
# (``pid`` is null) and are included; the reader's own backend is not.
_WRITERS = text(
    """
    SELECT DISTINCT l.virtualtransaction FROM pg_locks l
    WHERE l.locktype = 'relation'
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND l.relation IN (
        CAST(CAST(:table_name AS text) AS regclass),
        CAST(pg_get_serial_sequence(CAST(:table_name AS text), 'seq') AS regclass)
      )
      AND l.mode = 'RowExclusiveLock'
      AND l.pid IS DISTINCT FROM pg_backend_pid()
    """
)


def writers(conn: Connection) -> frozenset[str]:
    """The PostgreSQL transactions (virtual ids) now able to commit change-log rows."""
    return frozenset(str(r[0]) for r in conn.execute(_WRITERS, {"table_name": changes.name}))


@dataclass
class Hole:
    """Missing seqs ``first..last``, and the transactions that could still fill them when seen."""

    last: int
    barrier: frozenset[str] | None = None  # None until taken, after the read that saw the hole
    settled: bool = False  # every transaction of the barrier has ended: the hole stays a hole


@dataclass
class Horizon:
    """The highest seq below which the change log has no hole that may still fill.

    PostgreSQL hands out seqs at insert and commits in any order, so a reader can see 105 before 103.
    A missing seq is a transaction still running (it will commit or roll back) or one rolled back (a
    hole forever). Processing stops at the first missing seq until every transaction that could have
    taken it has ended: after the read that shows the hole, the engine notes the transactions holding
    the change log's insert locks (``writers``); once none of them runs any more, a seq still missing
    can never appear, and is skipped. Nothing is skipped on time alone, so a slow transaction is
    waited for however long it takes, and a rolled-back one costs a round or two, not seconds.
    SQLite has one writer and never leaves holes.
    """

    safe: int | None = None
    holes: dict[int, Hole] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def advance(self, conn: Connection, start: int) -> int:
        with self.lock:
            if self.safe is None or self.safe < start:
                self.safe = start
            safe = self.safe
            if conn.dialect.name == "sqlite":
                top = conn.execute(select(changes.c.seq).order_by(changes.c.seq.desc()).limit(1)).scalar()
                self.safe = max(safe, int(top or 0))
                return self.safe
            if self.holes:
                # before the read below: a transaction that ended now has its rows visible to it
                running = writers(conn)
                for hole in self.holes.values():
                    if hole.barrier is not None and not hole.barrier & running:
                        hole.settled = True
            seqs = conn.execute(
                select(changes.c.seq).where(changes.c.seq > safe).order_by(changes.c.seq).limit(20_000)
            ).scalars()
            for seq in seqs:
                while seq > safe + 1:
                    hole = self.holes.setdefault(safe + 1, Hole(int(seq) - 1))
                    if not hole.settled:
                        break
                    safe = min(hole.last, int(seq) - 1)  # the part of the hole the barrier covers
                if seq > safe + 1:
                    break
                safe = int(seq)
            self.safe = safe
            self.holes = {first: hole for first, hole in self.holes.items() if first > safe}
            if any(hole.barrier is None for hole in self.holes.values()):
                # after the read that saw them: whoever may still fill these holes holds a lock now
                running = writers(conn)
                for hole in self.holes.values():
                    if hole.barrier is None:
                        hole.barrier = running
            return safe


def read_batch(conn: Connection, workspace_id: int, cursor: int, horizon: int, limit: int) -> list[Any]:
    """Up to ``limit`` change-log rows of the workspace with ``cursor < seq <= horizon``, in seq order."""
    return list(
        conn.execute(
            select(changes)
            .where(
                changes.c.workspace_id == workspace_id,
                changes.c.seq > cursor,
                changes.c.seq <= horizon,
            )
            .order_by(changes.c.seq)
            .limit(limit)
        )
    )


__all__ = ["Hole", "Horizon", "read_batch", "writers"]
