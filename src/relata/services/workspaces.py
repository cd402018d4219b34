"""Workspaces, their keys, and authentication of API callers (constant-time key comparison)."""

from __future__ import annotations

import hmac
import threading

from relata.core.clock import Clock
from relata.core.errors import NotFound, Unauthorized, ValidationError
from relata.core.model import Workspace
from relata.storage import workspaces as rows
from relata.storage.database import Database
from relata.storage.workspaces import Credentials, KeyRecord, key_hash


class Workspaces:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self._keys: dict[str, KeyRecord] = {}
        self._lock = threading.Lock()

    def create(self, name: str, timezone: str = "UTC") -> Credentials:
        name = name.strip()
        if not name or len(name) > 200:
            raise ValidationError("name", "must be 1 to 200 characters")
        with self.db.write() as conn:
            if rows.find(conn, name) is not None:
                raise ValidationError("name", f"a workspace named {name!r} exists", "conflict")
            return rows.create(conn, name, self.clock.now(), timezone)

    def list(self) -> list[Workspace]:
        with self.db.read() as conn:
            return rows.all_workspaces(conn)

    def credentials(self, ref: str) -> Credentials:
        with self.db.read() as conn:
            workspace = rows.find(conn, ref)
            if workspace is None:
                raise NotFound(f"workspace {ref!r}")
            return rows.credentials(conn, workspace)

    def ensure_default(self, name: str) -> Credentials | None:
        """Create the first workspace on first start; None when there is one already."""
        with self.db.write() as conn:
            if rows.all_workspaces(conn):
                return None
            return rows.create(conn, name, self.clock.now())

    def _key(self, secret: str) -> KeyRecord | None:
        digest = key_hash(secret)
        with self._lock:
            found = self._keys.get(digest)
        if found is None:
            with self.db.read() as conn:
                found = rows.key_by_hash(conn, digest)
            if found is None:
                return None
            with self._lock:
                self._keys[digest] = found
        return found if hmac.compare_digest(found.secret, secret) else None

    def authenticate(self, kind: str, secret: str, site_id: str | None = None) -> Workspace:
        """The workspace whose ``kind`` key is ``secret`` (and, for Track, whose site id is ``site_id``)."""
        record = self._key(secret) if secret else None
        if record is None or record.kind != kind:
            raise Unauthorized(f"invalid {kind} credentials")
        if kind == "track" and not hmac.compare_digest(record.site_id or "", site_id or ""):
            raise Unauthorized("invalid track credentials")
        return record.workspace
