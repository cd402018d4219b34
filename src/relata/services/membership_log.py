"""Reading the change log for the membership engine: how far it is complete, and the next batch.

PostgreSQL hands out seqs at insert and commits in any order, so the engine reads only up to the
*horizon* (``Horizon``), below which every seq is committed or known to be missing; ``read_batch``
reads the rows of one workspace past its cursor, up to the horizon.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select

from relata.storage.schema import changes


@dataclass
class Horizon:
    """The highest seq below which the change log has no hole that may still fill.

    PostgreSQL hands out seqs at insert and commits in any order, so a reader can see 105 before 103.
    Processing stops at the first missing seq until it has been missing ``gap_seconds`` (a rolled-back
    transaction leaves a hole forever). SQLite has one writer and never leaves holes.
    """

    gap_seconds: float = 2.0
    safe: int | None = None
    gaps: dict[int, float] = field(default_factory=dict)
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
            now = time.monotonic()
            seqs = conn.execute(
                select(changes.c.seq).where(changes.c.seq > safe).order_by(changes.c.seq).limit(20_000)
            ).scalars()
            for seq in seqs:
                if seq != safe + 1:
                    first = self.gaps.setdefault(safe + 1, now)
                    if now - first < self.gap_seconds:
                        break
                    self.gaps.pop(safe + 1, None)
                safe = int(seq)
            self.safe = safe
            self.gaps = {k: v for k, v in self.gaps.items() if k > safe}
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


__all__ = ["Horizon", "read_batch"]
