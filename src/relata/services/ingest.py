"""Apply write operations to the object graph (SPEC §2, §3): the one write path of every ingestion API.

A call is one transaction. Each operation runs in its own savepoint: an operation that fails validation
is rolled back alone and reported by index, every valid operation is applied (the 207 semantics of
Track v2 batches), and nothing is visible until the whole call commits — so a 2xx means committed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from relata.core.clock import Clock
from relata.core.errors import ValidationError
from relata.core.limits import Limits
from relata.core.operations import Operation
from relata.services.contracts import ContractCache
from relata.services.graph_writer import GraphWriter
from relata.storage import contracts as contract_rows
from relata.storage.database import Database


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

    def apply(self, workspace_id: int, operations: Sequence[Operation]) -> list[OperationError]:
        """Apply ``operations`` in order; returns the errors of those that were rejected."""
        errors: list[OperationError] = []
        now = self.clock.now()
        with self.db.write() as conn:
            contract = self.contracts.current(conn, workspace_id)
            writer = GraphWriter(conn, workspace_id, contract, self.limits, now)
            for index, operation in enumerate(operations):
                savepoint = conn.begin_nested()
                try:
                    writer.apply(operation)
                except ValidationError as error:
                    savepoint.rollback()
                    writer.forget()
                    errors.append(OperationError(index, error.reason, error.path, error.message))
                else:
                    savepoint.commit()
                    writer.keep()
                for violation, sample, rejected in writer.take_violations():
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
            writer.flush()
        return errors

    def apply_one(self, workspace_id: int, operation: Operation) -> None:
        """Apply one operation; its error is raised as a ``ValidationError``."""
        errors = self.apply(workspace_id, [operation])
        if errors:
            raise ValidationError(errors[0].field, errors[0].message, errors[0].reason)
