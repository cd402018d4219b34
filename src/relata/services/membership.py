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

How a change maps to pairs (``membership_plan.dependencies`` gives what each segment reads):
person create / merge → every segment; person update → segments reading a changed attribute; event →
segments testing its name; person→object link → segments with a first hop to its type; object
attribute change → every position reading that type and attribute, walked back through the current
links to the people; object→object link → positions whose hop joins the two types; object deletion →
the people and objects the change log says were ever linked to it (its links are gone), then walked
back; person deletion → exit from every segment; ``segment_entered``/``segment_exited`` → segments
with that ``segment`` leaf.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, and_, select

from relata.core.clock import Clock
from relata.core.conditions import Condition, evaluate, parse_condition
from relata.core.contract import Contract
from relata.core.times import Millis
from relata.services.contracts import ContractCache
from relata.services.membership_plan import Dependencies, Position, dependencies, next_flip, segment_ids
from relata.storage import segments as rows
from relata.storage.conditions_load import load_snapshot
from relata.storage.conditions_sql import matching_people
from relata.storage.database import Database
from relata.storage.schema import changes, object_links, object_types, objects, people, person_links

log = logging.getLogger("relata.segments")

Cause = dict[str, Any]
Pairs = dict[int, dict[int, Cause]]  # segment pk -> person pk -> cause


@dataclass
class Compiled:
    row: rows.SegmentRow
    condition: Condition
    deps: Dependencies


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


class Membership:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        contracts: ContractCache,
        *,
        batch: int = 1000,
        gap_seconds: float = 2.0,
        sweep_ms: Millis = 300_000,
    ) -> None:
        self.db = db
        self.clock = clock
        self.contracts = contracts
        self.batch = batch
        self.sweep_ms = sweep_ms
        self.horizon = Horizon(gap_seconds)

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
            found = list(
                conn.execute(
                    select(changes)
                    .where(
                        changes.c.workspace_id == workspace_id,
                        changes.c.seq > cursor,
                        changes.c.seq <= horizon,
                    )
                    .order_by(changes.c.seq)
                    .limit(self.batch)
                )
            )
            upto = int(found[-1].seq) if len(found) == self.batch else horizon
            now = self.clock.now()
            if found:
                self._apply(conn, workspace_id, found, now)
            rows.advance(conn, workspace_id, upto, now)
            return len(found)

    def _apply(self, conn: Connection, workspace_id: int, found: Sequence[Any], now: Millis) -> None:
        contract = self.contracts.current(conn, workspace_id)
        compiled = self.compiled(conn, workspace_id, contract)
        type_ids = _type_ids(conn, workspace_id)
        pairs: Pairs = defaultdict(dict)
        deleted: list[tuple[int, Cause, Mapping[str, Any]]] = []
        objects_changed: list[tuple[int, str | None, set[str], Cause]] = []
        objects_deleted: list[tuple[int, str, Cause]] = []
        object_links_changed: list[tuple[int, int, Cause]] = []
        for change in found:
            cause: Cause = {"seq": int(change.seq), "op": change.op}
            person = change.person_pk
            if change.entity == "person":
                if person is None:
                    continue
                if change.op in ("delete", "suppress"):
                    deleted.append((person, cause, change.data))
                    continue
                for seg in compiled:
                    if _person_change_affects(seg, change, type_ids):
                        pairs[seg.row.pk][person] = cause
            elif change.op in ("create", "update"):
                keys = set(change.diff)
                if keys:
                    objects_changed.append((int(change.object_pk), change.data.get("type"), keys, cause))
            elif change.op == "delete":
                objects_deleted.append((int(change.object_pk), str(change.data.get("type")), cause))
            elif change.op.startswith("relationship_") and change.other_pk is not None:
                object_links_changed.append((int(change.other_pk), int(change.object_pk), cause))
        if compiled and (objects_changed or objects_deleted or object_links_changed):
            walker = _Walker(conn, workspace_id)
            walker.objects_changed(compiled, objects_changed, pairs)
            walker.links_changed(compiled, object_links_changed, pairs)
            walker.objects_deleted(compiled, objects_deleted, pairs)
        self.evaluate(conn, workspace_id, compiled, pairs, now, contract)
        for person, cause, data in deleted:
            self._forget(conn, workspace_id, person, cause, data, now)

    def _forget(
        self,
        conn: Connection,
        workspace_id: int,
        person: int,
        cause: Cause,
        data: Mapping[str, Any],
        now: Millis,
    ) -> None:
        """A deleted person leaves every segment; a merged one hands its manual memberships on."""
        left = rows.forget_person(conn, workspace_id, person)
        cio_id = data.get("cio_id")
        for segment in left:
            rows.record(conn, workspace_id, segment, [], [(person, cio_id)], now, cause)
        heir = data.get("merged_into")
        if not heir:
            return
        primary = conn.execute(
            select(people.c.pk).where(people.c.workspace_id == workspace_id, people.c.cio_id == heir)
        ).scalar()
        if primary is None:
            return
        for segment in left:
            if segment.kind == rows.MANUAL and not rows.members_among(conn, segment.pk, [int(primary)]):
                rows.record(conn, workspace_id, segment, [(int(primary), heir)], [], now, cause)

    # --- evaluation -------------------------------------------------------------------------------

    def compiled(self, conn: Connection, workspace_id: int, contract: Contract) -> list[Compiled]:
        found = []
        for row in rows.all_segments(conn, workspace_id, rows.DYNAMIC):
            if row.condition is None:
                continue
            try:
                condition = parse_condition(row.condition, "condition")
                found.append(Compiled(row, condition, dependencies(condition, contract)))
            except Exception:  # a contract change may have made a stored condition unplannable
                log.exception("segment %s of workspace %s cannot be planned", row.key, workspace_id)
        return _dependency_order(found)

    def evaluate(
        self,
        conn: Connection,
        workspace_id: int,
        compiled: Sequence[Compiled],
        pairs: Pairs,
        now: Millis,
        contract: Contract,
    ) -> int:
        """Re-evaluate each (segment, person) of ``pairs``; record entries and exits; schedule re-checks."""
        recorded = 0
        source = rows.StoredSegments(conn, workspace_id)
        for seg in compiled:
            wanted = pairs.get(seg.row.pk)
            if not wanted:
                continue
            members = rows.members_among(conn, seg.row.pk, wanted)
            entered: dict[str, list[tuple[int, str | None]]] = defaultdict(list)
            exited: dict[str, list[tuple[int, str | None]]] = defaultdict(list)
            causes: dict[str, Cause] = {}
            due: dict[int, Millis | None] = {}
            for person, cause in sorted(wanted.items()):
                snapshot = load_snapshot(
                    conn,
                    seg.condition,
                    workspace_id=workspace_id,
                    person_pk=person,
                    now=now,
                    contract=contract,
                    segments=source,
                )
                if snapshot is None:
                    continue  # deleted: its deletion records the exits
                holds = evaluate(seg.condition, snapshot, now=now, contract=contract)
                key = repr(sorted(cause.items()))
                causes[key] = cause
                if holds and person not in members:
                    entered[key].append((person, snapshot.cio_id))
                elif not holds and person in members:
                    exited[key].append((person, snapshot.cio_id))
                if seg.row.time_relative:
                    due[person] = next_flip(seg.condition, snapshot, now, contract)
            for key, cause in causes.items():
                rows.record(conn, workspace_id, seg.row, entered[key], exited[key], now, cause)
                recorded += len(entered[key]) + len(exited[key])
            if due:
                rows.schedule(conn, workspace_id, seg.row.pk, due)
        return recorded

    def refresh(
        self, conn: Connection, workspace_id: int, segment: rows.SegmentRow, cause: Cause, now: Millis
    ) -> tuple[int, int]:
        """Set-based evaluation of a whole segment, diffed against its members; returns (entered, exited)."""
        if segment.condition is None:
            return 0, 0
        contract = self.contracts.current(conn, workspace_id)
        condition = parse_condition(segment.condition, "condition")
        matching = set(
            matching_people(
                conn,
                condition,
                workspace_id=workspace_id,
                now=now,
                contract=contract,
                segments=rows.StoredSegments(conn, workspace_id),
            )
        )
        current = rows.all_members(conn, segment.pk)
        entering, leaving = sorted(matching - current), sorted(current - matching)
        names = rows.person_identities(conn, workspace_id, [*entering, *leaving])
        rows.record(
            conn,
            workspace_id,
            segment,
            [(pk, names.get(pk)) for pk in entering],
            [(pk, names.get(pk)) for pk in leaving],
            now,
            cause,
        )
        return len(entering), len(leaving)

    # --- bulk refresh and time --------------------------------------------------------------------

    def refresh_stale(self) -> int:
        done = 0
        for workspace_id in self._workspaces():
            with self.db.write() as conn:
                if rows.claim(conn, workspace_id) is None:
                    continue
                now = self.clock.now()
                for segment in _order_rows(rows.stale(conn, workspace_id)):
                    entered, exited = self.refresh(
                        conn, workspace_id, segment, {"kind": "refresh", "version": segment.version}, now
                    )
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
                compiled = self.compiled(conn, workspace_id, contract)
                pairs: Pairs = defaultdict(dict)
                found = rows.due_rechecks(conn, workspace_id, now, limit)
                for segment_pk, person in found:
                    pairs[segment_pk][person] = {"kind": "time"}
                self.evaluate(conn, workspace_id, compiled, pairs, now, contract)
                known = {seg.row.pk for seg in compiled}
                # re-checks of segments no longer dynamic, and of people gone, are dropped
                for segment_pk, person in found:
                    if segment_pk not in known or person not in _existing(conn, workspace_id, [person]):
                        rows.schedule(conn, workspace_id, segment_pk, {person: None})
                done += len(found)
        for workspace_id in self._workspaces():
            with self.db.write() as conn:
                if rows.claim(conn, workspace_id) is None:
                    continue
                for segment in _order_rows(rows.all_segments(conn, workspace_id, rows.DYNAMIC)):
                    if (
                        segment.time_relative
                        and segment.refreshed_version == segment.version
                        and segment.swept_at + self.sweep_ms <= now
                    ):
                        entered, exited = self.refresh(conn, workspace_id, segment, {"kind": "time"}, now)
                        rows.mark_swept(conn, segment.pk, now)
                        done += entered + exited
        return done

    def _workspaces(self) -> list[int]:
        with self.db.read() as conn:
            return rows.workspaces_with_segments(conn)


def _existing(conn: Connection, workspace_id: int, pks: Iterable[int]) -> set[int]:
    return set(rows.person_identities(conn, workspace_id, pks))


def _person_change_affects(seg: Compiled, change: Any, type_ids: Mapping[str, str]) -> bool:
    deps = seg.deps
    op = change.op
    if op in ("create", "merge"):
        return True
    if op == "update":
        keys = set(change.diff)
        if change.data.get("id") is not None or "id" in change.data:
            keys.add("id")
        return bool(keys & deps.person_fields)
    if op == "event":
        return change.data.get("name") in deps.events
    if op.startswith("relationship_"):
        refs = _type_refs(type_ids, change.data.get("type"))
        return any(p.path[0][1] in refs for p in deps.positions if len(p.path) == 1)
    if op in ("segment_entered", "segment_exited"):
        return change.data.get("segment") in deps.segments
    return False


def _type_refs(type_ids: Mapping[str, str], name: Any) -> set[str]:
    """The refs (name and numeric id) a condition may use for the type named ``name``."""
    if not isinstance(name, str):
        return set()
    return {name} | ({type_ids[name]} if name in type_ids else set())


def _type_ids(conn: Connection, workspace_id: int) -> dict[str, str]:
    found = conn.execute(
        select(object_types.c.name, object_types.c.type_id).where(object_types.c.workspace_id == workspace_id)
    )
    return {r[0]: r[1] for r in found}


def _dependency_order(found: list[Compiled]) -> list[Compiled]:
    """Segments a ``segment`` leaf names come before the segments naming them."""
    by_key = {seg.row.key: seg for seg in found}
    ordered: list[Compiled] = []
    seen: set[str] = set()

    def visit(seg: Compiled, stack: tuple[str, ...]) -> None:
        if seg.row.key in seen or seg.row.key in stack:
            return
        for key in sorted(seg.deps.segments):
            if key in by_key:
                visit(by_key[key], (*stack, seg.row.key))
        seen.add(seg.row.key)
        ordered.append(seg)

    for seg in found:
        visit(seg, ())
    return ordered


def _order_rows(found: list[rows.SegmentRow]) -> list[rows.SegmentRow]:
    compiled = []
    for row in found:
        if row.condition is None:
            continue
        condition = parse_condition(row.condition, "condition")
        deps = Dependencies(segments=segment_ids(condition))
        compiled.append(Compiled(row, condition, deps))
    return [seg.row for seg in _dependency_order(compiled)]


class _Walker:
    """Finds the people a change to objects can affect, walking positions backwards over links."""

    def __init__(self, conn: Connection, workspace_id: int) -> None:
        self.conn = conn
        self.ws = workspace_id
        self._types: dict[int, set[str]] = {}

    def types_of(self, pks: Iterable[int]) -> dict[int, set[str]]:
        wanted = sorted(set(pks) - set(self._types))
        for start in range(0, len(wanted), 500):
            found = self.conn.execute(
                select(objects.c.pk, object_types.c.name, object_types.c.type_id)
                .select_from(objects.join(object_types, object_types.c.id == objects.c.type_pk))
                .where(objects.c.pk.in_(wanted[start : start + 500]))
            )
            for pk, name, type_id in found:
                self._types[int(pk)] = {name, type_id}
        return {pk: self._types.get(pk, set()) for pk in pks}

    def type_refs(self, name: str | None, pk: int) -> set[str]:
        if name is not None:
            type_id = self.conn.execute(
                select(object_types.c.type_id).where(
                    object_types.c.workspace_id == self.ws, object_types.c.name == name
                )
            ).scalar()
            return {name, *([type_id] if type_id else [])}
        return self.types_of([pk])[pk]

    def people(self, path: Sequence[tuple[str, str]], level: int, start: set[int]) -> set[int]:
        """People reaching the objects ``start`` (at ``level`` = number of hops) along ``path``."""
        current = start
        for index in range(level - 1, -1, -1):
            if not current:
                return set()
            direction = path[index][0]
            if direction == "person":
                return self._neighbours(person_links.c.object_pk, person_links.c.person_pk, current)
            found: set[int] = set()
            if direction in ("down", "both"):
                found |= self._neighbours(object_links.c.child_pk, object_links.c.parent_pk, current)
            if direction in ("up", "both"):
                found |= self._neighbours(object_links.c.parent_pk, object_links.c.child_pk, current)
            current = found
        return set()

    def _neighbours(self, own: Any, other: Any, pks: set[int]) -> set[int]:
        ordered = sorted(pks)
        found: set[int] = set()
        for start in range(0, len(ordered), 500):
            found.update(
                int(r[0])
                for r in self.conn.execute(
                    select(other).where(own.in_(ordered[start : start + 500])).distinct()
                )
            )
        return found

    def objects_changed(
        self,
        compiled: Sequence[Compiled],
        found: Sequence[tuple[int, str | None, set[str], Cause]],
        pairs: Pairs,
    ) -> None:
        for pk, name, keys, cause in found:
            refs = self.type_refs(name, pk)
            for seg in compiled:
                for position in seg.deps.reads_type(refs):
                    if position.fields & keys:
                        for person in self.people(position.path, len(position.path), {pk}):
                            pairs[seg.row.pk][person] = cause

    def links_changed(
        self, compiled: Sequence[Compiled], found: Sequence[tuple[int, int, Cause]], pairs: Pairs
    ) -> None:
        """An object→object link (parent, child) changed: positions whose hop joins the two types."""
        if not found:
            return
        types = self.types_of([pk for parent, child, _ in found for pk in (parent, child)])
        for parent, child, cause in found:
            for seg in compiled:
                for position in seg.deps.positions:
                    path = position.path
                    for index in range(1, len(path)):
                        direction, target = path[index]
                        before = path[index - 1][1]
                        starts: set[int] = set()
                        if (
                            direction in ("down", "both")
                            and before in types[parent]
                            and target in types[child]
                        ):
                            starts.add(parent)
                        if direction in ("up", "both") and before in types[child] and target in types[parent]:
                            starts.add(child)
                        for person in self.people(path, index, starts):
                            pairs[seg.row.pk][person] = cause

    def objects_deleted(
        self, compiled: Sequence[Compiled], found: Sequence[tuple[int, str, Cause]], pairs: Pairs
    ) -> None:
        """The object's links are gone: the change log says who and what it was ever linked to."""
        for pk, name, cause in found:
            refs = self.type_refs(name, pk)
            for seg in compiled:
                for position in seg.deps.reads_type(refs):
                    direction = position.path[-1][0]
                    level = len(position.path)
                    if direction == "person":
                        reached = self.ever_people(pk)
                    else:
                        before: set[int] = set()
                        if direction in ("down", "both"):
                            before |= self.ever_linked(pk, parents=True)
                        if direction in ("up", "both"):
                            before |= self.ever_linked(pk, parents=False)
                        reached = self.people(position.path, level - 1, before)
                    for person in reached:
                        pairs[seg.row.pk][person] = cause

    def ever_people(self, object_pk: int) -> set[int]:
        found = {
            int(r[0])
            for r in self.conn.execute(
                select(changes.c.person_pk)
                .where(
                    changes.c.workspace_id == self.ws,
                    changes.c.object_pk == object_pk,
                    changes.c.entity == "person",
                    changes.c.person_pk.is_not(None),
                )
                .distinct()
            )
        }
        return current_people(self.conn, self.ws, found)

    def ever_linked(self, object_pk: int, *, parents: bool) -> set[int]:
        if parents:
            query = select(changes.c.other_pk).where(
                changes.c.workspace_id == self.ws,
                changes.c.object_pk == object_pk,
                changes.c.entity == "object",
                changes.c.other_pk.is_not(None),
            )
        else:
            query = select(changes.c.object_pk).where(
                changes.c.workspace_id == self.ws,
                changes.c.other_pk == object_pk,
                changes.c.entity == "object",
            )
        return {int(r[0]) for r in self.conn.execute(query.distinct()) if r[0] is not None}


def current_people(conn: Connection, workspace_id: int, pks: set[int]) -> set[int]:
    """``pks`` with people merged away replaced by the people they were merged into."""
    alive = _existing(conn, workspace_id, pks)
    gone = sorted(pks - alive)
    for _ in range(5):  # a chain of merges
        if not gone:
            break
        heirs = [
            r.data.get("merged_into")
            for r in conn.execute(
                select(changes.c.data).where(
                    and_(
                        changes.c.workspace_id == workspace_id,
                        changes.c.person_pk.in_(gone),
                        changes.c.op == "delete",
                        changes.c.entity == "person",
                    )
                )
            )
        ]
        names = [h for h in heirs if isinstance(h, str)]
        if not names:
            break
        found = {
            int(r[0]): int(r[0])
            for r in conn.execute(
                select(people.c.pk).where(people.c.workspace_id == workspace_id, people.c.cio_id.in_(names))
            )
        }
        alive |= set(found)
        gone = []
    return alive


__all__ = ["Horizon", "Membership", "Position", "current_people"]
