"""What happened to a person or object: activities (events and changes) and the change history.

Activities merge two streams newest first: the person's events (by event timestamp) and the person's
entries in the change log (by the time they were recorded). Events are read from the events table, not
from the change log's ``event`` entries, so that events adopted from an anonymous visitor or moved over
by a merge appear under the person who has them now. Activity types:

- ``event``, ``page``, ``screen``: events of that type;
- ``created``, ``attribute_change``, ``device_change``: the person was created, their attributes or id
  changed, a device was added or removed;
- ``add_relationship``, ``update_relationship``, ``delete_relationship``: a relationship to an object;
- ``merge`` (another person merged in), ``anon_merge`` (an anonymous visitor's activity adopted).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import or_

from relata.core.errors import ValidationError
from relata.core.identity import PersonRef
from relata.core.model import Change, Person, StoredObject
from relata.core.times import Millis
from relata.services.reads import ObjectIdType, Page, find_object, find_person
from relata.storage import activity, graph_reads, objects
from relata.storage.database import Database
from relata.storage.graph_reads import CHANGE_ACTIVITIES, ActivityKey

EVENT_ACTIVITIES = ("event", "page", "screen")
ACTIVITY_TYPES = EVENT_ACTIVITIES + CHANGE_ACTIVITIES
Diff = Mapping[str, tuple[Any, Any]]


@dataclass(frozen=True)
class Activity:
    id: str
    type: str
    name: str | None
    timestamp: Millis
    data: Mapping[str, Any]
    diff: Diff
    key: ActivityKey


@dataclass(frozen=True)
class Counterpart:
    """The other end of a relationship change: a person, the related object, a parent or a child."""

    role: Literal["person", "object", "parent", "child"]
    identifiers: Mapping[str, str | None]


@dataclass(frozen=True)
class HistoryEntry:
    change: Change
    diff: Diff
    counterpart: Counterpart | None


class History:
    def __init__(self, db: Database) -> None:
        self.db = db

    def activities(
        self,
        workspace_id: int,
        ref: PersonRef,
        activity_type: str | None,
        before: ActivityKey | None,
        limit: int,
    ) -> tuple[Person, Page[Activity]]:
        if activity_type is not None and activity_type not in ACTIVITY_TYPES:
            raise ValidationError("type", f"must be one of {', '.join(ACTIVITY_TYPES)}")
        found: list[Activity] = []
        with self.db.read() as conn:
            person = find_person(conn, workspace_id, ref)
            if activity_type is None or activity_type in EVENT_ACTIVITIES:
                types = None if activity_type is None else [activity_type]
                for event in graph_reads.person_events(
                    conn, workspace_id, person.pk, types=types, before=before, limit=limit + 1
                ):
                    key = (event.timestamp, 0, event.pk)
                    found.append(
                        Activity(f"e{event.pk}", event.type, event.name, event.timestamp, event.data, {}, key)
                    )
            if activity_type is None or activity_type in CHANGE_ACTIVITIES:
                wanted = CHANGE_ACTIVITIES if activity_type is None else (activity_type,)
                dialect = conn.dialect.name
                condition = or_(*(graph_reads.change_activity_condition(dialect, t) for t in wanted))
                for row in graph_reads.person_change_rows(
                    conn, workspace_id, person.pk, condition=condition, before=before, limit=limit + 1
                ):
                    found.append(_change_activity(activity.change_from_row(row)))
        found.sort(key=lambda a: a.key, reverse=True)
        more = len(found) > limit
        found = found[:limit]
        return person, Page(tuple(found), found[-1].key if more else None)

    def person_changes(
        self, workspace_id: int, ref: PersonRef, before: int | None, limit: int
    ) -> Page[HistoryEntry]:
        with self.db.read() as conn:
            person = find_person(conn, workspace_id, ref)
            rows = activity.history(conn, workspace_id, person_pk=person.pk, before=before, limit=limit + 1)
        entries = [HistoryEntry(c, _diff(c), _object_from_data(c, "object")) for c in rows]
        return _page(entries, limit)

    def object_changes(
        self,
        workspace_id: int,
        type_ref: str,
        object_id: str,
        id_type: ObjectIdType,
        before: int | None,
        limit: int,
    ) -> Page[HistoryEntry]:
        with self.db.read() as conn:
            obj = find_object(conn, workspace_id, type_ref, object_id, id_type)
            rows = activity.history(conn, workspace_id, object_pk=obj.pk, before=before, limit=limit + 1)
            person_pks = {c.person_pk for c in rows if c.person_pk is not None}
            parent_pks = {c.other_pk for c in rows if c.other_pk is not None and c.object_pk == obj.pk}
            found_people = graph_reads.people_by_pk(conn, workspace_id, person_pks)
            parents = {o.pk: o for o in objects.get_many(conn, workspace_id, parent_pks)}
        entries = [
            HistoryEntry(c, _diff(c), _object_counterpart(c, obj, found_people, parents)) for c in rows
        ]
        return _page(entries, limit)


def _page(entries: list[HistoryEntry], limit: int) -> Page[HistoryEntry]:
    if len(entries) > limit:
        return Page(tuple(entries[:limit]), (entries[limit - 1].change.seq,))
    return Page(tuple(entries), None)


def _diff(change: Change) -> Diff:
    found: dict[str, tuple[Any, Any]] = {}
    for name, pair in change.diff.items():
        if isinstance(pair, list | tuple) and len(pair) == 2:
            found[name] = (pair[0], pair[1])
    return found


def _identifiers_of(obj: StoredObject) -> dict[str, str | None]:
    return {
        "object_type_id": obj.type.type_id,
        "type": obj.type.name,
        "object_id": obj.object_id,
        "cio_object_id": obj.cio_object_id,
    }


def _object_from_data(change: Change, role: Literal["object", "child"]) -> Counterpart | None:
    if not change.op.startswith("relationship_"):
        return None
    return Counterpart(
        role, {"type": _text(change.data.get("type")), "object_id": _text(change.data.get("object_id"))}
    )


def _object_counterpart(
    change: Change, obj: StoredObject, found_people: Mapping[int, Person], parents: Mapping[int, StoredObject]
) -> Counterpart | None:
    if not change.op.startswith("relationship_"):
        return None
    if change.entity == "person":
        person = found_people.get(change.person_pk or -1)
        if person is None:
            return Counterpart("person", {"id": None, "email": None, "cio_id": None})
        return Counterpart("person", {"id": person.id, "email": person.email, "cio_id": person.cio_id})
    if change.other_pk == obj.pk:
        return _object_from_data(change, "child")
    parent = parents.get(change.other_pk or -1)
    return Counterpart("parent", _identifiers_of(parent) if parent else {"cio_object_id": None})


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _change_activity(change: Change) -> Activity:
    data = change.data
    diff = _diff(change)
    name: str | None = None
    if change.op == "create":
        kind = "created"
    elif change.op == "update":
        device = "device_added" in data or "device_removed" in data
        kind = "device_change" if device else "attribute_change"
        if not device and len(diff) == 1:
            name = next(iter(diff))
    elif change.op == "merge":
        kind = "anon_merge" if "anonymous_id" in data else "merge"
    else:
        kind = {
            "relationship_add": "add_relationship",
            "relationship_change": "update_relationship",
            "relationship_remove": "delete_relationship",
        }.get(change.op, change.op)
        name = _text(data.get("type"))
    return Activity(f"c{change.seq}", kind, name, change.at, data, diff, (change.at, 1, change.seq))
