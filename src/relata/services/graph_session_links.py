"""The relationships of a ``GraphSession``: reads and writes of person, object and anonymous links.

Each relationship table is held as a ``LinkTable`` view: the pairs read or written (``None`` for no
link), which of them the database has, and which must be written. A pair is read from the database
only when the view cannot answer: prefetch covers every pair among the people and objects it read
(``scope``), and a pair with an end this session created cannot be stored. ``linked_of_type`` reads
every link of one end to one object type once (``typed``), for exclusive relationships.
"""

from __future__ import annotations

from typing import Any

from relata.core.attributes import AttributeState
from relata.services.graph_session_flush import SessionFlush
from relata.services.graph_session_journal import ABSENT
from relata.storage import bulk
from relata.storage.links import OBJECT_LINKS, PERSON_LINKS, LinkRow, Links


class SessionLinks(SessionFlush):
    """Reads and writes of relationships through the ``LinkTable`` views."""

    def _fresh(self, links: Links, left: Any, right: int) -> bool:
        """A pair that cannot be stored: one of its ends was created by this session."""
        if right in self._fresh_objects:
            return True
        if links is PERSON_LINKS:
            return left in self._fresh_people
        return links is OBJECT_LINKS and left in self._fresh_objects

    def link(self, links: Links, left: Any, right: int) -> LinkRow | None:
        view = self._links[links.table.name]
        pair = (left, right)
        found = view.pairs.get(pair, ABSENT)
        if found is not ABSENT:
            return found  # type: ignore[no-any-return]
        lefts, rights = view.scope
        if (left in lefts and right in rights) or self._fresh(links, left, right):
            return None
        stored = links.get(self.conn, self.ws, left, right)
        view.hold(pair, stored, stored=stored is not None)
        return stored

    def put_link(self, links: Links, left: Any, right: int, state: AttributeState) -> None:
        existing = self.link(links, left, right)
        created = existing.created_at if existing is not None else self.now
        view = self._links[links.table.name]
        pair = (left, right)
        view.by_left.setdefault(left, set()).add(right)
        self._journal.set(view.pairs, pair, LinkRow(left, right, state, created, self.now))
        self._journal.set(view.dirty, pair, None)
        self._written()

    def remove_link(self, links: Links, left: Any, right: int) -> bool:
        if self.link(links, left, right) is None:
            return False
        view = self._links[links.table.name]
        self._journal.set(view.pairs, (left, right), None)
        self._journal.set(view.dirty, (left, right), None)
        self._written()
        return True

    def linked_of_type(self, links: Links, left: Any, type_pk: int) -> list[int]:
        """The objects of one type linked from ``left``, in pk order."""
        view = self._links[links.table.name]
        if (left, type_pk) not in view.typed and not (links is PERSON_LINKS and left in self._fresh_people):
            for link, found_type in bulk.links_of_type(self.conn, self.ws, links, [left], [type_pk]):
                self._right_type[link.right] = found_type
                pair = (link.left, link.right)
                if pair not in view.pairs:
                    view.hold(pair, link, stored=True)
            view.typed.add((left, type_pk))
        return sorted(
            right
            for right in view.by_left.get(left, ())
            if view.pairs.get((left, right)) is not None and self._right_type.get(right) == type_pk
        )
