"""A unit of work over the object graph for one ingestion request: identity map, write-behind, undo.

``GraphWriter`` reads and writes people, objects, types, relationships and events through a session
instead of issuing SQL per operation:

- **Prefetch.** Everything a batch names is read up front in a few set-based queries (people by id,
  email and cio_id; objects by (type, object_id); the links among them; dedupe ids, suppressions and
  anonymous ids). A key asked for later that was not prefetched is read on demand, one query, and
  cached; a key that was prefetched and not found is known to be absent.
- **Identity map.** Each row is held once, as the frozen value the writer works with; a write replaces
  it, and the indexes by identifier follow (an email that moves to another person is freed here first).
- **Write-behind.** Written rows are marked dirty and written at ``flush`` with one ``executemany`` per
  table and kind (insert, update, delete). New rows get their primary keys up front
  (``storage.database.PrimaryKeys``), so change-log rows can name them before they are inserted.
- **Undo per operation.** Between ``begin`` and ``commit`` every change to the session's state is
  recorded; ``rollback`` replays the record backwards, so a rejected operation leaves nothing behind and
  its neighbours in the batch see the state as if it had never run.

Operations the session does not model (merge, delete, suppression, devices, adoption of an anonymous
visitor) run on direct SQL in a savepoint: the caller flushes first, turns ``write_through`` on (each
write is flushed at once, so the database and the session agree), and ``clear``s the session after.

The session is built in layers, one module each: ``graph_session_journal`` (the undo record),
``graph_session_state`` (what is held, and loading rows read into it), ``graph_session_prefetch`` (the
reading plan, ``Wanted``, and its queries), ``graph_session_flush`` (write-behind),
``graph_session_links`` (relationships); this module adds object types, people, objects and events.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from relata.core.attributes import AttributeState
from relata.core.identity import PersonRef, normalize_email
from relata.core.model import ObjectType, Person, StoredObject
from relata.core.times import Millis
from relata.services.graph_session_journal import ABSENT
from relata.services.graph_session_links import SessionLinks
from relata.services.graph_session_prefetch import SessionPrefetch
from relata.services.graph_session_state import PersonKey, keys_of, person_key
from relata.storage import bulk
from relata.storage.people import new_cio_id
from relata.storage.schema import events, object_types, objects, people


def _email_of(state: AttributeState) -> str | None:
    email = state.values.get("email")
    return email if isinstance(email, str) else None


class GraphSession(SessionPrefetch, SessionLinks):
    """The unit of work (see the module's docstring): object types, people, objects and events."""

    # --- object types ---------------------------------------------------------------------------

    def next_type_id(self) -> str:
        numbers = [int(t.type_id) for t in self._all_types().values() if t.type_id.isdigit()]
        return str(max(numbers, default=0) + 1)

    def create_type(self, type_id: str, name: str) -> ObjectType:
        types = self._all_types()
        created = ObjectType(self.keys.take(object_types.c.id), type_id, name)
        self._fresh_types.add(created.pk)
        self._journal.set(types, created.pk, created)
        self._journal.set(self._dirty_types, created.pk, None)
        self._written()
        return created

    def rename_type(self, object_type: ObjectType, name: str) -> ObjectType:
        renamed = ObjectType(object_type.pk, object_type.type_id, name)
        self._journal.set(self._all_types(), renamed.pk, renamed)
        self._journal.set(self._dirty_types, renamed.pk, None)
        self._written()
        return renamed

    # --- people ---------------------------------------------------------------------------------

    def find_person(self, ref: PersonRef) -> Person | None:
        return self._person_by_key(person_key(ref))

    def _person_by_key(self, key: PersonKey) -> Person | None:
        pk = self._pkeys.get(key, ABSENT)
        if pk is ABSENT:
            kind, value = key
            rows = bulk.people_by_keys(
                self.conn,
                self.ws,
                [value] if kind == "id" else [],
                [value] if kind == "email" else [],
                [value] if kind == "cio_id" else [],
                lock=self.lock,
            )
            pk = None
            for row in rows:
                held = self._load_person(row)
                if key in keys_of(held):
                    pk = held.pk
            self._pkeys[key] = pk
        return None if pk is None else self._people[pk]

    def person(self, pk: int) -> Person | None:
        held = self._people.get(pk)
        if held is None:
            rows = bulk.people_by_keys(self.conn, self.ws, [], [], [], [pk], lock=self.lock)
            held = self._load_person(rows[0]) if rows else None
        return held

    def owner_of(self, kind: str, value: str) -> int | None:
        """The pk of the person whose id (``kind="id"``) or email is ``value``."""
        found = self._person_by_key((kind, normalize_email(value) if kind == "email" else value))
        return None if found is None else found.pk

    def create_person(self, ident: str | None, state: AttributeState) -> Person:
        pk = self.keys.take(people.c.pk)
        person = Person(
            pk, new_cio_id(), ident, _email_of(state), state.values, state.stamps, self.now, self.now
        )
        self._fresh_people.add(pk)
        self._journal.set(self._people, pk, person)
        for key in keys_of(person):
            self._journal.set(self._pkeys, key, pk)
        self._journal.set(self._dirty_people, pk, None)
        self._written()
        return person

    def save_person(self, person: Person, ident: str | None, state: AttributeState) -> Person:
        held = self._people[person.pk]
        saved = Person(
            person.pk,
            held.cio_id,
            ident,
            _email_of(state),
            state.values,
            state.stamps,
            held.created_at,
            self.now,
        )
        new_keys = keys_of(saved)
        for key in keys_of(held):
            if key not in new_keys and self._pkeys.get(key) == person.pk:
                self._journal.set(self._pkeys, key, None)
        for key in new_keys:
            self._journal.set(self._pkeys, key, person.pk)
        self._journal.set(self._people, person.pk, saved)
        self._journal.set(self._dirty_people, person.pk, None)
        self._written()
        return saved

    def anonymous_owner(self, anonymous_id: str) -> int | None:
        if anonymous_id not in self._anon:
            self._anon[anonymous_id] = bulk.anonymous_owners(self.conn, self.ws, [anonymous_id]).get(
                anonymous_id
            )
        return self._anon[anonymous_id]

    def is_suppressed(self, identifiers: Sequence[tuple[str, str]]) -> bool:
        unknown = [key for key in identifiers if key not in self._suppressed]
        if unknown:
            found = bulk.suppressed_keys(self.conn, self.ws, unknown)
            for key in unknown:
                self._suppressed[key] = key in found
        return any(self._suppressed[key] for key in identifiers)

    # --- objects --------------------------------------------------------------------------------

    def find_object(self, object_type: ObjectType, object_id: str) -> StoredObject | None:
        key = (object_type.pk, object_id)
        pk = self._okeys.get(key, ABSENT)
        if pk is ABSENT:
            pk = None
            if object_type.pk not in self._fresh_types:
                found = bulk.objects_by_keys(self.conn, self.ws, self._all_types(), [key], lock=self.lock)
                pk = self._load_object(found[0]).pk if found else None
            self._okeys[key] = pk
        return None if pk is None else self._objects[pk]

    def find_object_by_cio_id(self, cio_object_id: str) -> StoredObject | None:
        pk = self._ocio.get(cio_object_id, ABSENT)
        if pk is ABSENT:
            found = bulk.objects_by_keys(
                self.conn, self.ws, self._all_types(), [], [cio_object_id], lock=self.lock
            )
            pk = self._load_object(found[0]).pk if found else None
            self._ocio[cio_object_id] = pk
        return None if pk is None else self._objects[pk]

    def create_object(self, object_type: ObjectType, object_id: str, state: AttributeState) -> StoredObject:
        pk = self.keys.take(objects.c.pk)
        obj = StoredObject(
            pk, object_type, object_id, new_cio_id(), state.values, state.stamps, self.now, self.now
        )
        self._fresh_objects.add(pk)
        self._right_type[pk] = object_type.pk
        self._journal.set(self._objects, pk, obj)
        self._journal.set(self._okeys, (object_type.pk, object_id), pk)
        self._journal.set(self._ocio, obj.cio_object_id, pk)
        self._journal.set(self._dirty_objects, pk, None)
        self._written()
        return obj

    def save_object(self, obj: StoredObject, state: AttributeState) -> StoredObject:
        held = self._objects[obj.pk]
        saved = StoredObject(
            obj.pk,
            held.type,
            held.object_id,
            held.cio_object_id,
            state.values,
            state.stamps,
            held.created_at,
            self.now,
        )
        self._journal.set(self._objects, obj.pk, saved)
        self._journal.set(self._dirty_objects, obj.pk, None)
        self._written()
        return saved

    # --- events ---------------------------------------------------------------------------------

    def event_exists(self, dedupe_id: str) -> bool:
        if dedupe_id not in self._dedupe:
            self._dedupe[dedupe_id] = bool(bulk.existing_dedupe_ids(self.conn, self.ws, [dedupe_id]))
        return self._dedupe[dedupe_id]

    def add_event(
        self,
        person_pk: int | None,
        anonymous_id: str | None,
        name: str,
        type_: str,
        data: Mapping[str, Any],
        timestamp: Millis,
        dedupe_id: str | None,
    ) -> int:
        pk = self.keys.take(events.c.pk)
        self._journal.append(
            self._events,
            {
                "pk": pk,
                "workspace_id": self.ws,
                "person_pk": person_pk,
                "anonymous_id": anonymous_id,
                "name": name,
                "type": type_,
                "data": data,
                "timestamp": timestamp,
                "dedupe_id": dedupe_id,
                "received_at": self.now,
            },
        )
        if dedupe_id is not None:
            self._journal.set(self._dedupe, dedupe_id, True)
        self._written()
        return pk
