"""Apply write operations to the object graph (SPEC §2, §3): the one write path of every ingestion API.

A call is one transaction. Each operation is isolated: an operation that fails validation is rolled back
alone and reported by index, every valid operation is applied (the 207 semantics of Track v2 batches),
and nothing is visible until the whole call commits — so a 2xx means committed.

The work is done as a unit (``GraphSession``): what a run of operations names is read in a few set-based
queries, the operations are applied in memory with an undo record each, and the rows are written with
one ``executemany`` per table at the end. Operations with SQL of their own (``GraphWriter.is_direct``:
merge, delete, suppression, devices, adoption of an anonymous visitor) run in a savepoint after a
flush, and the session is read afresh after them.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from relata.core.clock import Clock
from relata.core.contract import Violation
from relata.core.errors import ValidationError
from relata.core.limits import Limits
from relata.core.operations import Operation
from relata.services.contracts import ContractCache
from relata.services.graph_session import GraphSession
from relata.services.graph_writer import GraphWriter
from relata.services.graph_writer_base import DIRECT_OPERATIONS
from relata.storage import contracts as contract_rows
from relata.storage.database import Database

RETRIES = 5
FoundViolation = tuple[Violation, Mapping[str, Any], bool]  # what the contract saw, its sample, rejected?


@dataclass(frozen=True)
class OperationError:
    index: int
    reason: str
    field: str
    message: str


class Ingest:
    def __init__(self, db: Database, clock: Clock, limits: Limits, contracts: ContractCache) -> None:
        self.db = db
        self.clock = clock
        self.limits = limits
        self.contracts = contracts

    def apply(
        self, workspace_id: int, operations: Sequence[Operation], *, atomic: bool = False
    ) -> list[OperationError]:
        """Apply ``operations`` in order; returns the errors of those that were rejected.

        ``atomic``: all or nothing — the first rejected operation's error is raised as a
        ``ValidationError`` and nothing of the call is written (one request that is several operations,
        such as Track v1's identify that also removes relationships).

        Two requests racing to create the same person, object or event (a unique key), or locking rows
        in opposite orders (a deadlock on PostgreSQL), make one transaction fail as a whole; it is rolled
        back and applied again, now seeing what the other committed.
        """
        for attempt in range(1, RETRIES + 1):
            try:
                return self._apply(workspace_id, operations, atomic)
            except (IntegrityError, OperationalError) as error:
                if attempt == RETRIES or not _is_race(error):
                    raise
                time.sleep(random.uniform(0, 0.01 * attempt))
        raise AssertionError("unreachable")

    def _apply(
        self, workspace_id: int, operations: Sequence[Operation], atomic: bool
    ) -> list[OperationError]:
        errors: list[OperationError] = []
        now = self.clock.now()
        try:
            with self.db.write() as conn:
                self._run(conn, workspace_id, operations, atomic, now, errors)
        except _Rejected as rejected:
            # The call's writes are rolled back; what the contract saw of it is still recorded.
            with self.db.write() as conn:
                _record(conn, workspace_id, rejected.violations, now)
            raise rejected.error from None
        return errors

    def _run(
        self,
        conn: Connection,
        workspace_id: int,
        operations: Sequence[Operation],
        atomic: bool,
        now: int,
        errors: list[OperationError],
    ) -> None:
        contract = self.contracts.current(conn, workspace_id)
        session = GraphSession(conn, workspace_id, now)
        writer = GraphWriter(session, contract, self.limits, now)
        prefetched = 0  # operations before this index have been prefetched
        for index, operation in enumerate(operations):
            if index >= prefetched:
                prefetched = _window_end(operations, index)
                session.prefetch(writer.wanted(operations[index:prefetched]))
            direct = writer.is_direct(operation)
            savepoint = None
            if direct:
                session.flush()
                session.write_through = True
                savepoint = conn.begin_nested()
            session.begin()
            try:
                writer.apply(operation)
            except ValidationError as error:
                session.rollback()
                if savepoint is not None:
                    savepoint.rollback()
                writer.forget()
                if atomic:
                    raise _Rejected(error, writer.take_violations()) from None
                errors.append(OperationError(index, error.reason, error.path, error.message))
            else:
                session.commit()
                if savepoint is not None:
                    savepoint.commit()
                writer.keep()
            if direct:
                session.write_through = False
                session.clear()
                writer.reset_cache()
                prefetched = index + 1
            _record(conn, workspace_id, writer.take_violations(), now)
        writer.flush()

    def apply_one(self, workspace_id: int, operation: Operation) -> None:
        """Apply one operation; its error is raised as a ``ValidationError``."""
        errors = self.apply(workspace_id, [operation])
        if errors:  # one operation: the same as atomic, and its violations are recorded
            raise ValidationError(errors[0].field, errors[0].message, errors[0].reason)


class _Rejected(Exception):
    """An operation of an all-or-nothing call failed: the call's transaction is to be rolled back."""

    def __init__(self, error: ValidationError, violations: list[FoundViolation]) -> None:
        super().__init__(str(error))
        self.error = error
        self.violations = violations


def _record(conn: Connection, workspace_id: int, violations: list[FoundViolation], now: int) -> None:
    for violation, sample, rejected in violations:
        contract_rows.record_violation(
            conn,
            workspace_id,
            violation.type_name,
            violation.attribute,
            violation.kind,
            violation.message,
            sample,
            rejected,
            now,
        )


def _is_race(error: DBAPIError) -> bool:
    """A unique-key clash, deadlock or serialization failure between concurrent writers."""
    if isinstance(error, IntegrityError):
        return True
    code = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
    return code in ("40001", "40P01") or "database is locked" in str(error.orig)


def _window_end(operations: Sequence[Operation], start: int, most: int = 2000) -> int:
    """The end of the run of operations from ``start`` that the session can prefetch for at once: up to
    the next operation that runs SQL of its own (the session is read afresh after it)."""
    if isinstance(operations[start], DIRECT_OPERATIONS):
        return start + 1  # the session is cleared after it: read ahead no further
    end = min(len(operations), start + most)
    for index in range(start + 1, end):
        if isinstance(operations[index], DIRECT_OPERATIONS):
            return index
    return end
