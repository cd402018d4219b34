"""The data contract in force for a workspace, parsed once per version."""

from __future__ import annotations

import threading

from sqlalchemy import Connection

from relata.core.contract import EMPTY, Contract
from relata.core.contract_parse import parse_contract
from relata.storage import contracts as contract_rows


class ContractCache:
    """Parsed contracts by (workspace, version); a request reads the version, then parses at most once."""

    def __init__(self) -> None:
        self._parsed: dict[tuple[int, int], Contract] = {}
        self._lock = threading.Lock()

    def current(self, conn: Connection, workspace_id: int) -> Contract:
        found = contract_rows.current(conn, workspace_id)
        if found is None:
            return EMPTY
        version, document = found
        key = (workspace_id, version)
        with self._lock:
            contract = self._parsed.get(key)
        if contract is None:
            contract = parse_contract(document)
            with self._lock:
                self._parsed[key] = contract
        return contract
