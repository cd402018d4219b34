"""The membership engine: segment membership kept current from the change log (SPEC §6, §14).

Three kinds of work, each idempotent and each done in one write transaction holding the workspace's
cursor row (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so any number of workers can run them):

- ``process_changes``: read the change log past the workspace's cursor (up to the *horizon*, below
  which every seq is committed or known to be missing), work out which (segment, person) pairs each
  change can affect, re-evaluate only those with the per-person evaluator, record entries and exits,
  schedule time re-checks, advance the cursor.
- ``refresh_stale``: a segment created or changed is evaluated in bulk (set-based SQL), diffed against
  its members.
- ``run_due``: re-checks whose time has come (a ``within`` window closing), and a periodic bulk
  *sweep* of time-relative segments for people no write has touched since the last refresh.

The engine holds the transactions and the order of work; the work itself is in the modules it uses:
``membership_log`` (the horizon, reading a batch), ``membership_pairs`` (the pairs a batch affects),
``membership_evaluate`` (re-evaluating pairs or whole segments, recording entries and exits) and
``membership_plan`` (what a condition reads, when it next flips by time alone).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from relata.core.clock import Clock
from relata.core.times import Millis
from relata.services.contracts import ContractCache
from relata.services.membership_evaluate import (
    Pairs,
    compile_segments,
    evaluate_pairs,
    forget,
    order_rows,
    refresh_segment,
)
from relata.services.membership_log import Horizon, read_batch
from relata.services.membership_pairs import affected_pairs
from relata.storage import segments as rows
from relata.storage.database import Database


class Membership:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        contracts: ContractCache,
        *,
        batch: int = 1000,
        sweep_ms: Millis = 300_000,
    ) -> None:
        self.db = db
        self.clock = clock
        self.contracts = contracts
        self.batch = batch
        self.sweep_ms = sweep_ms
        self.horizon = Horizon()

    # --- the change log ---------------------------------------------------------------------------

    def process_changes(self) -> int:
        """One round over every workspace; returns the number of change-log rows read."""
        with self.db.read() as conn:
            workspace_ids = rows.workspace_ids(conn)
            known = rows.cursors(conn)
            horizon = self.horizon.advance(conn, min(known.values(), default=0))
        missing = [ws for ws in workspace_ids if ws not in known]
        if missing:
            with self.db.write() as conn:
                rows.ensure_cursors(conn, missing, self.clock.now())
            known.update(dict.fromkeys(missing, 0))
        done = 0
        for workspace_id, seq in sorted(known.items()):
            if seq < horizon:
                done += self.process_workspace(workspace_id, horizon)
        return done

    def process_workspace(self, workspace_id: int, horizon: int) -> int:
        with self.db.write() as conn:
            cursor = rows.claim(conn, workspace_id)
            if cursor is None or cursor >= horizon:
                return 0
            if not rows.has_segments(conn, workspace_id):
                rows.advance(conn, workspace_id, horizon, self.clock.now())
                return 0
            found = read_batch(conn, workspace_id, cursor, horizon, self.batch)
            upto = int(found[-1].seq) if len(found) == self.batch else horizon
            now = self.clock.now()
            if found:
                self._apply(conn, workspace_id, found, now)
            rows.advance(conn, workspace_id, upto, now)
            return len(found)

    def _apply(self, conn: Connection, workspace_id: int, found: Sequence[Any], now: Millis) -> None:
        contract = self.contracts.current(conn, workspace_id)
        compiled = compile_segments(conn, workspace_id, contract)
        pairs, deleted = affected_pairs(conn, workspace_id, compiled, found)
        evaluate_pairs(conn, workspace_id, compiled, pairs, now, contract)
        for person, cause, data in deleted:
            forget(conn, workspace_id, person, cause, data, now)

    # --- bulk refresh and time --------------------------------------------------------------------

    def refresh_stale(self) -> int:
        done = 0
        for workspace_id in self._workspaces():
            with self.db.write() as conn:
                if rows.claim(conn, workspace_id) is None:
                    continue
                now = self.clock.now()
                for segment in order_rows(rows.stale(conn, workspace_id)):
                    contract = self.contracts.current(conn, workspace_id)
                    cause = {"kind": "refresh", "version": segment.version}
                    entered, exited = refresh_segment(conn, workspace_id, segment, cause, now, contract)
                    rows.mark_refreshed(conn, segment.pk, segment.version, now)
                    done += 1 + entered + exited
        return done

    def run_due(self, limit: int = 500) -> int:
        """Due re-checks, then sweeps of time-relative segments not swept for ``sweep_ms``."""
        done = 0
        now = self.clock.now()
        with self.db.read() as conn:
            due_workspaces = rows.workspaces_with_due_rechecks(conn, now)
        for workspace_id in due_workspaces:
            with self.db.write() as conn:
                if rows.claim(conn, workspace_id) is None:
                    continue
                contract = self.contracts.current(conn, workspace_id)
                compiled = compile_segments(conn, workspace_id, contract)
                pairs: Pairs = defaultdict(dict)
                found = rows.due_rechecks(conn, workspace_id, now, limit)
                for segment_pk, person in found:
                    pairs[segment_pk][person] = {"kind": "time"}
                evaluate_pairs(conn, workspace_id, compiled, pairs, now, contract)
                known = {seg.row.pk for seg in compiled}
                # re-checks of segments no longer dynamic, and of people gone, are dropped
                for segment_pk, person in found:
                    if segment_pk in known and person in rows.person_identities(conn, workspace_id, [person]):
                        continue
                    rows.schedule(conn, workspace_id, segment_pk, {person: None})
                done += len(found)
        for workspace_id in self._workspaces():
            with self.db.write() as conn:
                if rows.claim(conn, workspace_id) is None:
                    continue
                for segment in order_rows(rows.all_segments(conn, workspace_id, rows.DYNAMIC)):
                    if (
                        segment.time_relative
                        and segment.refreshed_version == segment.version
                        and segment.swept_at + self.sweep_ms <= now
                    ):
                        contract = self.contracts.current(conn, workspace_id)
                        cause = {"kind": "time"}
                        entered, exited = refresh_segment(conn, workspace_id, segment, cause, now, contract)
                        rows.mark_swept(conn, segment.pk, now)
                        done += entered + exited
        return done

    def _workspaces(self) -> list[int]:
        with self.db.read() as conn:
            return rows.workspaces_with_segments(conn)


__all__ = ["Membership"]
