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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from relata.core.attributes import AttributeState
from relata.core.identity import PersonRef, normalize_email
from relata.core.model import ObjectType, Person, StoredObject
from relata.core.times import Millis
from relata.storage import bulk
from relata.storage import objects as object_rows
from relata.storage.database import PrimaryKeys
from relata.storage.links import ANONYMOUS_LINKS, OBJECT_LINKS, PERSON_LINKS, LinkRow, Links
from relata.storage.people import new_cio_id
from relata.storage.schema import events, object_types, objects, people

_ABSENT: Any = object()
PersonKey = tuple[str, str]  # ("id" | "email" | "cio_id", value; emails normalised)
Pair = tuple[Any, int]


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


def person_key(ref: PersonRef) -> PersonKey:
    return (ref.kind, normalize_email(ref.value) if ref.kind == "email" else ref.value)


def _email_of(state: AttributeState) -> str | None:
    email = state.values.get("email")
    return email if isinstance(email, str) else None


def _keys_of(person: Person) -> list[PersonKey]:
    keys = [("cio_id", person.cio_id)]
    if person.id is not None:
        keys.append(("id", person.id))
    if person.email:
        keys.append(("email", normalize_email(person.email)))
    return keys


class _LinkTable:
    """The session's view of one relationship table."""

    def __init__(self, links: Links) -> None:
        self.links = links
        self.pairs: dict[Pair, LinkRow | None] = {}  # current state; None = no link
        self.stored: set[Pair] = set()  # pairs that exist in the database
        self.dirty: dict[Pair, None] = {}
        self.by_left: dict[Any, set[int]] = {}  # index of the pairs held, by left end
        self.scope: tuple[set[Any], set[int]] = (set(), set())  # every stored pair among these is held
        self.typed: set[tuple[Any, int]] = set()  # (left, type pk): every stored link is held

    def hold(self, pair: Pair, link: LinkRow | None, stored: bool) -> None:
        self.pairs[pair] = link
        if stored:
            self.stored.add(pair)
        self.by_left.setdefault(pair[0], set()).add(pair[1])


class GraphSession:
    def __init__(self, conn: Connection, workspace_id: int, now: Millis) -> None:
        self.conn = conn
        self.ws = workspace_id
        self.now = now
        self.lock = conn.dialect.name != "sqlite"  # FOR UPDATE on the rows a batch will write
        self.keys = PrimaryKeys(conn)
        self.write_through = False
        self._undo: list[tuple[Any, Any, Any]] | None = None
        self._init_state()

    def _init_state(self) -> None:
        self._types: dict[int, ObjectType] | None = None
        self._stored_types: set[int] = set()
        self._dirty_types: dict[int, None] = {}
        self._fresh_types: set[int] = set()
        self._people: dict[int, Person] = {}
        self._pkeys: dict[PersonKey, int | None] = {}
        self._stored_people: dict[int, tuple[str | None, str | None]] = {}
        self._dirty_people: dict[int, None] = {}
        self._fresh_people: set[int] = set()
        self._objects: dict[int, StoredObject] = {}
        self._okeys: dict[tuple[int, str], int | None] = {}
        self._ocio: dict[str, int | None] = {}
        self._stored_objects: set[int] = set()
        self._dirty_objects: dict[int, None] = {}
        self._fresh_objects: set[int] = set()
        self._right_type: dict[int, int] = {}
        self._links = {
            links.table.name: _LinkTable(links) for links in (PERSON_LINKS, OBJECT_LINKS, ANONYMOUS_LINKS)
        }
        self._anon: dict[str, int | None] = {}
        self._suppressed: dict[tuple[str, str], bool] = {}
        self._dedupe: dict[str, bool] = {}
        self._events: list[dict[str, Any]] = []

    # --- operation boundaries -------------------------------------------------------------------

    def begin(self) -> None:
        self._undo = []

    def commit(self) -> None:
        self._undo = None

    def rollback(self) -> None:
        """Undo every change since ``begin``, newest first."""
        undo, self._undo = self._undo or [], None
        for target, key, old in reversed(undo):
            if isinstance(target, list):
                del target[key:]
            elif old is _ABSENT:
                target.pop(key, None)
            else:
                target[key] = old

    def _set(self, target: dict[Any, Any], key: Any, value: Any) -> None:
        if self._undo is not None:
            self._undo.append((target, key, target.get(key, _ABSENT)))
        target[key] = value

    def _append(self, target: list[Any], value: Any) -> None:
        if self._undo is not None:
            self._undo.append((target, len(target), None))
        target.append(value)

    def _written(self) -> None:
        if self.write_through:
            self.flush()

    def clear(self) -> None:
        """Forget everything held (after direct SQL, or after a rollback of the database's savepoint)."""
        self.keys.reset()
        self._init_state()

    # --- prefetch -------------------------------------------------------------------------------

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

    # --- flush ----------------------------------------------------------------------------------

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
                stored = self._stored_people.get(pk, _ABSENT)
                if stored is _ABSENT:
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

    # --- object types ---------------------------------------------------------------------------

    def _all_types(self) -> dict[int, ObjectType]:
        if self._types is None:
            self._types = {t.pk: t for t in object_rows.types(self.conn, self.ws)}
            self._stored_types = set(self._types)
        return self._types

    def find_type(self, ref: str) -> ObjectType | None:
        """A type by its numeric id or its name."""
        by_id = ref.isdigit()
        for object_type in self._all_types().values():
            if (object_type.type_id if by_id else object_type.name) == ref:
                return object_type
        return None

    def next_type_id(self) -> str:
        numbers = [int(t.type_id) for t in self._all_types().values() if t.type_id.isdigit()]
        return str(max(numbers, default=0) + 1)

    def create_type(self, type_id: str, name: str) -> ObjectType:
        types = self._all_types()
        created = ObjectType(self.keys.take(object_types.c.id), type_id, name)
        self._fresh_types.add(created.pk)
        self._set(types, created.pk, created)
        self._set(self._dirty_types, created.pk, None)
        self._written()
        return created

    def rename_type(self, object_type: ObjectType, name: str) -> ObjectType:
        renamed = ObjectType(object_type.pk, object_type.type_id, name)
        self._set(self._all_types(), renamed.pk, renamed)
        self._set(self._dirty_types, renamed.pk, None)
        self._written()
        return renamed

    # --- people ---------------------------------------------------------------------------------

    def _load_person(self, person: Person) -> Person:
        """A row read from the database; what the session holds already wins."""
        held = self._people.get(person.pk)
        if held is not None:
            return held
        self._people[person.pk] = person
        self._stored_people[person.pk] = (
            person.id,
            normalize_email(person.email) if person.email else None,
        )
        for key in _keys_of(person):
            self._pkeys.setdefault(key, person.pk)
        return person

    def find_person(self, ref: PersonRef) -> Person | None:
        return self._person_by_key(person_key(ref))

    def _person_by_key(self, key: PersonKey) -> Person | None:
        pk = self._pkeys.get(key, _ABSENT)
        if pk is _ABSENT:
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
                if key in _keys_of(held):
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
        self._set(self._people, pk, person)
        for key in _keys_of(person):
            self._set(self._pkeys, key, pk)
        self._set(self._dirty_people, pk, None)
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
        new_keys = _keys_of(saved)
        for key in _keys_of(held):
            if key not in new_keys and self._pkeys.get(key) == person.pk:
                self._set(self._pkeys, key, None)
        for key in new_keys:
            self._set(self._pkeys, key, person.pk)
        self._set(self._people, person.pk, saved)
        self._set(self._dirty_people, person.pk, None)
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

    def _load_object(self, obj: StoredObject) -> StoredObject:
        held = self._objects.get(obj.pk)
        if held is not None:
            return held
        self._objects[obj.pk] = obj
        self._stored_objects.add(obj.pk)
        self._right_type[obj.pk] = obj.type.pk
        self._okeys.setdefault((obj.type.pk, obj.object_id), obj.pk)
        self._ocio.setdefault(obj.cio_object_id, obj.pk)
        return obj

    def find_object(self, object_type: ObjectType, object_id: str) -> StoredObject | None:
        key = (object_type.pk, object_id)
        pk = self._okeys.get(key, _ABSENT)
        if pk is _ABSENT:
            pk = None
            if object_type.pk not in self._fresh_types:
                found = bulk.objects_by_keys(self.conn, self.ws, self._all_types(), [key], lock=self.lock)
                pk = self._load_object(found[0]).pk if found else None
            self._okeys[key] = pk
        return None if pk is None else self._objects[pk]

    def find_object_by_cio_id(self, cio_object_id: str) -> StoredObject | None:
        pk = self._ocio.get(cio_object_id, _ABSENT)
        if pk is _ABSENT:
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
        self._set(self._objects, pk, obj)
        self._set(self._okeys, (object_type.pk, object_id), pk)
        self._set(self._ocio, obj.cio_object_id, pk)
        self._set(self._dirty_objects, pk, None)
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
        self._set(self._objects, obj.pk, saved)
        self._set(self._dirty_objects, obj.pk, None)
        self._written()
        return saved

    # --- relationships --------------------------------------------------------------------------

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
        found = view.pairs.get(pair, _ABSENT)
        if found is not _ABSENT:
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
        self._set(view.pairs, pair, LinkRow(left, right, state, created, self.now))
        self._set(view.dirty, pair, None)
        self._written()

    def remove_link(self, links: Links, left: Any, right: int) -> bool:
        if self.link(links, left, right) is None:
            return False
        view = self._links[links.table.name]
        self._set(view.pairs, (left, right), None)
        self._set(view.dirty, (left, right), None)
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
        self._append(
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
            self._set(self._dedupe, dedupe_id, True)
        self._written()
        return pk
