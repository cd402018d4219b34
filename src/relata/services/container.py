"""Every service of one running Relata, built from a database, a clock and limits."""

from __future__ import annotations

from dataclasses import dataclass

from relata.core.clock import Clock
from relata.core.limits import Limits
from relata.services.contract_admin import IMPACT_CHECKS, ContractAdmin
from relata.services.contract_impacts import segments_impact, templates_impact
from relata.services.contracts import ContractCache
from relata.services.history import History
from relata.services.ingest import Ingest
from relata.services.reads import Reads
from relata.services.segments import Segments
from relata.services.templates import Templates
from relata.services.workspaces import Workspaces
from relata.storage.database import Database


@dataclass
class Services:
    db: Database
    clock: Clock
    limits: Limits
    contracts: ContractCache
    ingest: Ingest
    workspaces: Workspaces
    reads: Reads
    contract_admin: ContractAdmin
    history: History
    templates: Templates
    segments: Segments

    @classmethod
    def create(cls, db: Database, clock: Clock, limits: Limits) -> Services:
        contracts = ContractCache()
        ingest = Ingest(db, clock, limits, contracts)
        return cls(
            db=db,
            clock=clock,
            limits=limits,
            contracts=contracts,
            ingest=ingest,
            workspaces=Workspaces(db, clock),
            reads=Reads(db, contracts),
            contract_admin=ContractAdmin(
                db, clock, contracts, ingest, [*IMPACT_CHECKS, segments_impact, templates_impact]
            ),
            history=History(db),
            templates=Templates(db, clock, contracts),
            segments=Segments(db, clock, contracts, ingest),
        )
