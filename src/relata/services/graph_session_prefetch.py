"""The reading plan of a run of operations (``Wanted``) and its prefetch into a ``GraphSession``.

Everything a batch names is read up front in a few set-based queries: people by id, email and cio_id
(and the owners of its anonymous ids); objects by (type, object_id) and cio_object_id; the links among
them, and every link of those people to the types whose person links are exclusive; dedupe ids,
suppressions and anonymous ids. A key that was asked for and not found is held as known to be absent;
anything else is read on demand, later, and cached. The primary keys the batch's new rows will take are
reserved in one go (``PrimaryKeys.expect``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from relata.services.graph_session_state import PersonKey, SessionState
from relata.storage import bulk
from relata.storage.links import ANONYMOUS_LINKS, OBJECT_LINKS, PERSON_LINKS
from relata.storage.schema import events, objects, people


@dataclass
class Wanted:
    """What a run of operations will look up: read in bulk by ``GraphSession.prefetch``."""

    people: set[PersonKey] = field(default_factory=set)
    objects: set[tuple[str, str]] = field(default_factory=set)  # (type ref as resolved, object_id)
    cio_objects: set[str] = field(default_factory=set)
    anonymous: set[str] = field(default_factory=set)
    dedupe: set[str] = field(default_factory=set)
    suppressions: set[tuple[str, str]] = field(default_factory=set)
    exclusive_types: set[str] = field(default_factory=set)  # type refs whose person links are exclusive
    events: int = 0


class SessionPrefetch(SessionState):
    """Reading a run of operations' ``Wanted`` in bulk."""

    def prefetch(self, wanted: Wanted) -> None:
        """Read what ``wanted`` names in a few set-based queries; what is not found is known absent."""
        types = self._all_types()
        if wanted.anonymous:
            found = bulk.anonymous_owners(self.conn, self.ws, wanted.anonymous)
            for anonymous_id in wanted.anonymous:
                self._anon.setdefault(anonymous_id, found.get(anonymous_id))
        people_keys = {key for key in wanted.people if key not in self._pkeys}
        owners = [pk for pk in self._anon.values() if pk is not None and pk not in self._people]
        if people_keys or owners:
            rows = bulk.people_by_keys(
                self.conn,
                self.ws,
                [v for k, v in people_keys if k == "id"],
                [v for k, v in people_keys if k == "email"],
                [v for k, v in people_keys if k == "cio_id"],
                owners,
                lock=self.lock,
            )
            for person in rows:
                self._load_person(person)
            for key in people_keys:
                self._pkeys.setdefault(key, None)
        object_keys: set[tuple[int, str]] = set()
        for ref, object_id in wanted.objects:
            object_type = self.find_type(ref)
            if object_type is not None and object_type.pk not in self._fresh_types:
                object_keys.add((object_type.pk, object_id))
        object_keys = {key for key in object_keys if key not in self._okeys}
        cio_objects = {c for c in wanted.cio_objects if c not in self._ocio}
        if object_keys or cio_objects:
            for obj in bulk.objects_by_keys(
                self.conn, self.ws, types, object_keys, sorted(cio_objects), lock=self.lock
            ):
                self._load_object(obj)
            for object_key in object_keys:
                self._okeys.setdefault(object_key, None)
            for cio in cio_objects:
                self._ocio.setdefault(cio, None)
        self._prefetch_links(wanted)
        if wanted.dedupe:
            found_ids = bulk.existing_dedupe_ids(self.conn, self.ws, wanted.dedupe)
            for dedupe_id in wanted.dedupe:
                self._dedupe.setdefault(dedupe_id, dedupe_id in found_ids)
        if wanted.suppressions:
            found_keys = bulk.suppressed_keys(self.conn, self.ws, wanted.suppressions)
            for key in wanted.suppressions:
                self._suppressed.setdefault(key, key in found_keys)
        new_people = sum(1 for key in wanted.people if self._pkeys.get(key) is None)
        new_objects = sum(1 for key in object_keys if self._okeys.get(key) is None) + len(
            [k for k in wanted.objects if self.find_type(k[0]) is None]
        )
        self.keys.expect(people.c.pk, new_people)
        self.keys.expect(objects.c.pk, new_objects)
        self.keys.expect(events.c.pk, wanted.events)

    def _prefetch_links(self, wanted: Wanted) -> None:
        person_pks = set(self._people)
        object_pks = set(self._objects)
        anonymous = set(wanted.anonymous)
        for table, lefts in (
            (PERSON_LINKS, person_pks),
            (OBJECT_LINKS, object_pks),
            (ANONYMOUS_LINKS, anonymous),
        ):
            view = self._links[table.table.name]
            if lefts and object_pks:
                for link in bulk.links_among(self.conn, self.ws, table, sorted(lefts), sorted(object_pks)):
                    pair = (link.left, link.right)
                    if pair not in view.pairs:
                        view.hold(pair, link, stored=True)
            view.scope = (set(lefts), set(object_pks))
        exclusive = [t.pk for ref in wanted.exclusive_types if (t := self.find_type(ref)) is not None]
        if exclusive and person_pks:
            view = self._links[PERSON_LINKS.table.name]
            for link, type_pk in bulk.links_of_type(
                self.conn, self.ws, PERSON_LINKS, sorted(person_pks), exclusive
            ):
                self._right_type[link.right] = type_pk
                pair = (link.left, link.right)
                if pair not in view.pairs:
                    view.hold(pair, link, stored=True)
            view.typed.update((left, type_pk) for left in person_pks for type_pk in exclusive)
