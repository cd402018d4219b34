"""Write-behind for a ``GraphSession``: ``flush`` writes every dirty row in one ``executemany`` per table
and kind of write (insert, update, delete), through ``storage.bulk``.

Types, people, objects, then each relationship table, then events, so that rows exist before the rows
that name them. A row is an insert when the database does not have it yet (it is not ``stored``), an
update otherwise; a link held as ``None`` that is stored is deleted. People whose id or email changes
are released first, so identifiers can change hands within one flush. With ``write_through`` on, every
write is flushed at once (``_written``), so the database and the session agree for direct SQL.
"""

from __future__ import annotations

from typing import Any

from relata.services.graph_session_journal import ABSENT
from relata.services.graph_session_state import Pair, SessionState
from relata.storage import bulk
from relata.storage.links import LinkRow


class SessionFlush(SessionState):
    """Write-behind: dirty rows to the database."""

    def _written(self) -> None:
        if self.write_through:
            self.flush()

    def flush(self) -> None:
        """Write every dirty row: one ``executemany`` per table and kind of write."""
        if self._dirty_types:
            assert self._types is not None
            written = [self._types[pk] for pk in self._dirty_types]
            bulk.write_types(
                self.conn,
                self.ws,
                [t for t in written if t.pk not in self._stored_types],
                [t for t in written if t.pk in self._stored_types],
                self.now,
            )
            self._stored_types.update(self._dirty_types)
            self._dirty_types.clear()
        if self._dirty_people:
            inserts: list[dict[str, Any]] = []
            updates: list[dict[str, Any]] = []
            release: list[int] = []
            for pk in self._dirty_people:
                row = bulk.person_row(self.ws, self._people[pk])
                stored = self._stored_people.get(pk, ABSENT)
                if stored is ABSENT:
                    inserts.append(row)
                else:
                    updates.append(row)
                    if stored != (row["ident"], row["email_key"]):
                        release.append(pk)
                self._stored_people[pk] = (row["ident"], row["email_key"])
            bulk.write_people(self.conn, inserts, updates, release)
            self._dirty_people.clear()
        if self._dirty_objects:
            rows = [bulk.object_row(self.ws, self._objects[pk]) for pk in self._dirty_objects]
            bulk.write_objects(
                self.conn,
                [r for r in rows if r["pk"] not in self._stored_objects],
                [r for r in rows if r["pk"] in self._stored_objects],
            )
            self._stored_objects.update(self._dirty_objects)
            self._dirty_objects.clear()
        for view in self._links.values():
            if not view.dirty:
                continue
            link_inserts: list[LinkRow] = []
            link_updates: list[LinkRow] = []
            deletes: list[Pair] = []
            for pair in view.dirty:
                link = view.pairs[pair]
                if link is None:
                    if pair in view.stored:
                        deletes.append(pair)
                        view.stored.discard(pair)
                elif pair in view.stored:
                    link_updates.append(link)
                else:
                    link_inserts.append(link)
                    view.stored.add(pair)
            bulk.write_links(self.conn, self.ws, view.links, link_inserts, link_updates, deletes)
            view.dirty.clear()
        if self._events:
            bulk.write_events(self.conn, self._events)
            self._events = []
