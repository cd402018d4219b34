"""The change-log horizon on PostgreSQL: seqs commit out of order and rolled-back ones leave holes.

A change whose transaction is still running must never be skipped, however long it runs; a hole left
by a rolled-back transaction must not hold the engine up for long.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import Connection, RootTransaction
from tests.services.test_segments_support import apply, identify, members, save, settle

from relata.bootstrap import Runtime
from relata.core.operations import Operation
from relata.services.ingest import OperationError
from relata.services.membership_log import writers
from relata.storage.workspaces import Credentials

VIP = {"attribute": {"field": "vip", "operator": "eq", "value": True}}


def _postgres_only(runtime: Runtime) -> None:
    if runtime.services.db.is_sqlite:
        pytest.skip("SQLite has one writer: seqs commit in order")


def _write_open(
    runtime: Runtime, workspace_id: int, *operations: Operation
) -> tuple[Connection, RootTransaction]:
    """Apply ``operations`` in a transaction left open: (connection, transaction)."""
    services = runtime.services
    conn = services.db.engine.connect()
    transaction = conn.begin()
    errors: list[OperationError] = []
    services.ingest._run(conn, workspace_id, list(operations), False, services.clock.now(), errors)
    assert errors == []
    return conn, transaction


def test_writers_are_the_open_change_log_transactions(runtime: Runtime, workspace: Credentials) -> None:
    _postgres_only(runtime)
    ws = workspace.workspace.id
    with runtime.services.db.read() as conn:
        assert writers(conn) == frozenset()
    open_conn, transaction = _write_open(runtime, ws, identify("ann", vip=True))
    try:
        with runtime.services.db.read() as conn:
            assert len(writers(conn)) == 1
    finally:
        transaction.rollback()
        open_conn.close()
    with runtime.services.db.read() as conn:
        assert writers(conn) == frozenset()


def test_earlier_seq_committing_last_is_processed(runtime: Runtime, workspace: Credentials) -> None:
    _postgres_only(runtime)
    ws = workspace.workspace.id
    apply(runtime, ws, identify("ann", vip=False), identify("bob", vip=False))
    save(runtime, ws, "vip", VIP)
    settle(runtime)
    conn, transaction = _write_open(runtime, ws, identify("ann", vip=True))  # the earlier seq
    try:
        apply(runtime, ws, identify("bob", vip=True))  # a later seq, committed first
        settle(runtime)
        assert members(runtime, ws, "vip") == set()  # bob's seq is past ann's, still open
        # longer than any grace period: the open transaction may still commit, so its seq is awaited
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline:
            settle(runtime)
            time.sleep(0.1)
        transaction.commit()
    finally:
        conn.close()
    settle(runtime)
    assert members(runtime, ws, "vip") == {"ann", "bob"}


def test_rolled_back_hole_is_skipped_at_once(runtime: Runtime, workspace: Credentials) -> None:
    _postgres_only(runtime)
    ws = workspace.workspace.id
    apply(runtime, ws, identify("ann", vip=False), identify("bob", vip=False))
    save(runtime, ws, "vip", VIP)
    settle(runtime)
    conn, transaction = _write_open(runtime, ws, identify("ann", vip=True))
    apply(runtime, ws, identify("bob", vip=True))
    settle(runtime)
    assert members(runtime, ws, "vip") == set()  # bob's seq is past ann's hole, still open
    transaction.rollback()
    conn.close()
    begin = time.monotonic()
    while members(runtime, ws, "vip") != {"bob"}:
        settle(runtime)
        assert time.monotonic() - begin < 1.0, "a rolled-back hole held the engine up"
    assert members(runtime, ws, "vip") == {"bob"}
