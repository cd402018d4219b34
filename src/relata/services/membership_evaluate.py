"""Re-evaluating segment membership and recording entries and exits (SPEC §6, §14).

- ``compile_segments``: a workspace's dynamic segments with their parsed conditions and what they
  read (``membership_plan.dependencies``), inner segments (named by a ``segment`` leaf) first.
- ``evaluate_pairs``: the per-person evaluator over the (segment, person) pairs a batch of changes
  affects; records entries and exits, each under its cause, and schedules time re-checks.
- ``refresh_segment``: set-based evaluation of a whole segment, diffed against its members.
- ``forget``: a deleted person leaves every segment; a merged one hands its manual memberships on.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from relata.core.conditions import Condition, evaluate, parse_condition
from relata.core.contract import Contract
from relata.core.times import Millis
from relata.services.membership_plan import Dependencies, dependencies, next_flip, segment_ids
from relata.storage import segments as rows
from relata.storage.conditions_load import load_snapshot
from relata.storage.conditions_sql import matching_people
from relata.storage.schema import people

log = logging.getLogger("relata.segments")

Cause = dict[str, Any]
Pairs = dict[int, dict[int, Cause]]  # segment pk -> person pk -> cause


@dataclass
class Compiled:
    row: rows.SegmentRow
    condition: Condition
    deps: Dependencies


def compile_segments(conn: Connection, workspace_id: int, contract: Contract) -> list[Compiled]:
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


def order_rows(found: list[rows.SegmentRow]) -> list[rows.SegmentRow]:
    """``found`` in dependency order (inner segments first), without those lacking a condition."""
    compiled = []
    for row in found:
        if row.condition is None:
            continue
        condition = parse_condition(row.condition, "condition")
        deps = Dependencies(segments=segment_ids(condition))
        compiled.append(Compiled(row, condition, deps))
    return [seg.row for seg in _dependency_order(compiled)]


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


def evaluate_pairs(
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


def refresh_segment(
    conn: Connection,
    workspace_id: int,
    segment: rows.SegmentRow,
    cause: Cause,
    now: Millis,
    contract: Contract,
) -> tuple[int, int]:
    """Set-based evaluation of a whole segment, diffed against its members; returns (entered, exited)."""
    if segment.condition is None:
        return 0, 0
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


def forget(
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


__all__ = [
    "Cause",
    "Compiled",
    "Pairs",
    "compile_segments",
    "evaluate_pairs",
    "forget",
    "order_rows",
    "refresh_segment",
]
