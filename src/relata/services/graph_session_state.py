"""What a ``GraphSession`` holds: the identity map of the rows it has read or written, and its buffers.

Each row is held once, as the frozen value the writer works with, with indexes by identifier (people
by id, email and cio_id; objects by (type, object_id) and cio_object_id; anonymous ids by owner). A key
that was looked up and not found is held as ``None``: known to be absent. Next to the rows, what the
database has (``stored``), what must be written (``dirty``) and what this session created (``fresh``,
so never looked up in the database). Relationship tables are held as ``LinkTable`` views.

``SessionState`` is the base of the session's parts: it builds that state, opens and closes
operations on its ``Journal``, and loads rows read from the database into the identity map.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from relata.core.identity import PersonRef, normalize_email
from relata.core.model import ObjectType, Person, StoredObject
from relata.core.times import Millis
from relata.services.graph_session_journal import Journal
from relata.storage import objects as object_rows
from relata.storage.database import PrimaryKeys
from relata.storage.links import ANONYMOUS_LINKS, OBJECT_LINKS, PERSON_LINKS, LinkRow, Links

PersonKey = tuple[str, str]  # ("id" | "email" | "cio_id", value; emails normalised)
Pair = tuple[Any, int]


def person_key(ref: PersonRef) -> PersonKey:
    return (ref.kind, normalize_email(ref.value) if ref.kind == "email" else ref.value)


def keys_of(person: Person) -> list[PersonKey]:
    keys = [("cio_id", person.cio_id)]
    if person.id is not None:
        keys.append(("id", person.id))
    if person.email:
        keys.append(("email", normalize_email(person.email)))
    return keys


class LinkTable:
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


class SessionState:
    """The base of the session's parts: its state, its operations' journal, and loading what is read."""

    def __init__(self, conn: Connection, workspace_id: int, now: Millis) -> None:
        self.conn = conn
        self.ws = workspace_id
        self.now = now
        self.lock = conn.dialect.name != "sqlite"  # FOR UPDATE on the rows a batch will write
        self.keys = PrimaryKeys(conn)
        self.write_through = False
        self._journal = Journal()
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
            links.table.name: LinkTable(links) for links in (PERSON_LINKS, OBJECT_LINKS, ANONYMOUS_LINKS)
        }
        self._anon: dict[str, int | None] = {}
        self._suppressed: dict[tuple[str, str], bool] = {}
        self._dedupe: dict[str, bool] = {}
        self._events: list[dict[str, Any]] = []

    # --- operation boundaries -------------------------------------------------------------------

    def begin(self) -> None:
        self._journal.begin()

    def commit(self) -> None:
        self._journal.commit()

    def rollback(self) -> None:
        """Undo every change since ``begin``, newest first."""
        self._journal.rollback()

    def clear(self) -> None:
        """Forget everything held (after direct SQL, or after a rollback of the database's savepoint)."""
        self.keys.reset()
        self._init_state()

    # --- loading what the database has ----------------------------------------------------------

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
        for key in keys_of(person):
            self._pkeys.setdefault(key, person.pk)
        return person

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
