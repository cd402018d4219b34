"""Segments as resources (SPEC §6): save, read, preview, delete; members and history; manual members.

A segment is ``{id, name, kind, description, condition}``: ``id`` is a slug, ``kind`` is ``dynamic`` (a
condition, kept current by ``relata.services.membership``) or ``manual`` (members added and removed by
API, Track v1 or CSV). Every change of a segment is a new version. Saving a dynamic segment validates
its condition against the data contract and queues a bulk refresh; the worker does it.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from relata.core.clock import Clock
from relata.core.conditions import Condition, parse_condition, to_data, validate
from relata.core.errors import NotFound, ValidationError
from relata.core.identity import PersonRef
from relata.core.operations import IdentifyPerson
from relata.core.times import Millis
from relata.services.contracts import ContractCache
from relata.services.ingest import Ingest
from relata.services.membership import Membership
from relata.services.membership_plan import dependencies, segment_ids
from relata.storage import people as people_rows
from relata.storage import segments as rows
from relata.storage.conditions_sql import count_people, matching_people
from relata.storage.database import Database

SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,99}")
KINDS = (rows.DYNAMIC, rows.MANUAL)
MAX_MEMBERS_PER_REQUEST = 10_000
SAMPLE = 10


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next: int | None


def describe(row: rows.SegmentRow, members: int | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {
        "id": row.key,
        "number": row.pk,
        "name": row.name,
        "kind": row.kind,
        "description": row.description,
        "condition": row.condition,
        "version": row.version,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }
    if row.kind == rows.DYNAMIC:
        found["refreshed"] = row.refreshed_version == row.version
        found["time_relative"] = row.time_relative
    if members is not None:
        found["members"] = members
    return found


class Segments:
    def __init__(self, db: Database, clock: Clock, contracts: ContractCache, ingest: Ingest) -> None:
        self.db = db
        self.clock = clock
        self.contracts = contracts
        self.ingest = ingest
        self.membership = Membership(db, clock, contracts)

    # --- definitions ------------------------------------------------------------------------------

    def all(self, workspace_id: int) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            counts = rows.member_counts(conn, workspace_id)
            return [describe(r, counts.get(r.pk, 0)) for r in rows.all_segments(conn, workspace_id)]

    def get(self, workspace_id: int, key: str) -> dict[str, Any]:
        with self.db.read() as conn:
            row = find(conn, workspace_id, key)
            found = describe(row, rows.member_counts(conn, workspace_id).get(row.pk, 0))
            found["versions"] = rows.versions(conn, row.pk)
            return found

    def save(
        self, workspace_id: int, document: Mapping[str, Any], *, key: str | None = None, create: bool = False
    ) -> tuple[dict[str, Any], bool]:
        """Create or update a segment from its document; returns it and whether it was created.

        ``key`` (from a URL) wins over the document's ``id``; with ``create`` an existing segment is a 400.
        """
        if not isinstance(document, Mapping):
            raise ValidationError("body", "must be a JSON object describing a segment")
        unknown = sorted(set(document) - {"id", "name", "kind", "description", "condition"})
        if unknown:
            raise ValidationError(
                unknown[0], "is not a field of a segment (id, name, kind, description, condition)"
            )
        key = _slug(key if key is not None else document.get("id"), "id")
        name = document.get("name", key)
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            raise ValidationError("name", "must be a string of 1 to 200 characters")
        description = document.get("description", "") or ""
        if not isinstance(description, str) or len(description) > 1000:
            raise ValidationError("description", "must be a string of at most 1000 characters")
        kind = document.get("kind", rows.DYNAMIC if "condition" in document else rows.MANUAL)
        if kind not in KINDS:
            raise ValidationError("kind", "must be dynamic or manual")
        with self.db.write() as conn:
            existing = rows.find(conn, workspace_id, key)
            if create and existing is not None:
                raise ValidationError(
                    "id", f"segment {key!r} exists; PUT /v1/segments/{key} changes it", "conflict"
                )
            condition_data: dict[str, Any] | None = None
            time_relative = False
            if kind == rows.DYNAMIC:
                if document.get("condition") is None:
                    raise ValidationError("condition", "a dynamic segment needs a condition")
                condition = self.check_condition(conn, workspace_id, document["condition"], key)
                condition_data = to_data(condition)
                time_relative = dependencies(
                    condition, self.contracts.current(conn, workspace_id)
                ).time_relative
            elif document.get("condition") is not None:
                raise ValidationError("condition", "a manual segment has no condition; its members are added")
            row, _changed = rows.save(
                conn,
                workspace_id,
                key,
                name=name.strip(),
                kind=kind,
                description=description,
                condition=condition_data,
                time_relative=time_relative,
                now=self.clock.now(),
            )
            return describe(row), existing is None

    def check_condition(self, conn: Connection, workspace_id: int, data: Any, key: str | None) -> Condition:
        """Parse and validate a condition: contract names, and ``segment`` leaves naming saved segments
        without a cycle. Errors name the path from ``condition``."""
        condition = parse_condition(data, "condition")
        validate(condition, self.contracts.current(conn, workspace_id), path="condition")
        graph: dict[str, set[str]] = {}
        for row in rows.all_segments(conn, workspace_id):
            if row.condition is not None and row.key != key:
                graph[row.key] = segment_ids(parse_condition(row.condition, "condition"))
            else:
                graph[row.key] = set()
        named = segment_ids(condition)
        for target in sorted(named):
            if target not in graph and target != key:
                raise ValidationError("condition.segment.id", f"unknown segment {target!r}")
        if key is not None:
            graph[key] = named
            cycle = _cycle(graph, key)
            if cycle:
                raise ValidationError(
                    "condition.segment.id", f"segments refer to each other in a cycle: {' → '.join(cycle)}"
                )
        return condition

    def delete(self, workspace_id: int, key: str) -> None:
        with self.db.write() as conn:
            row = find(conn, workspace_id, key)
            users = [
                r.key
                for r in rows.all_segments(conn, workspace_id)
                if r.condition is not None and key in segment_ids(parse_condition(r.condition, "condition"))
            ]
            if users:
                raise ValidationError("id", f"segment {key!r} is used by segment {users[0]!r}", "conflict")
            rows.mark_deleted(conn, row.pk, self.clock.now())

    def apply(self, workspace_id: int, document: Any) -> list[dict[str, Any]]:
        """One segment, a list of them or ``{segments: [...]}`` (files); each saved in order."""
        items = (
            document.get("segments") if isinstance(document, Mapping) and "segments" in document else document
        )
        if isinstance(items, Mapping):
            items = [items]
        if not isinstance(items, Sequence) or isinstance(items, str) or not items:
            raise ValidationError("segments", "must be a segment or a non-empty list of segments")
        results = []
        for index, item in enumerate(items):
            try:
                saved, created = self.save(workspace_id, item)
            except ValidationError as error:
                raise ValidationError(
                    f"segments[{index}].{error.path}", error.message, error.reason
                ) from None
            results.append({**saved, "created": created})
        return results

    # --- reading membership -----------------------------------------------------------------------

    def preview(self, workspace_id: int, data: Any, sample: int = SAMPLE) -> dict[str, Any]:
        """How many people an unsaved condition matches now, and a few of them."""
        with self.db.read() as conn:
            condition = self.check_condition(conn, workspace_id, data, None)
            contract = self.contracts.current(conn, workspace_id)
            source = rows.StoredSegments(conn, workspace_id)
            now = self.clock.now()
            total = count_people(
                conn, condition, workspace_id=workspace_id, now=now, contract=contract, segments=source
            )
            pks = matching_people(
                conn, condition, workspace_id=workspace_id, now=now, contract=contract, segments=source
            )[:sample]
            people = [people_rows.get(conn, workspace_id, pk) for pk in pks]
        return {
            "count": total,
            "sample": [{"cio_id": p.cio_id, "id": p.id, "email": p.email} for p in people if p is not None],
        }

    def members(self, workspace_id: int, key: str, after: int | None, limit: int) -> Page:
        with self.db.read() as conn:
            row = find(conn, workspace_id, key)
            found = rows.members_page(conn, row.pk, after, limit + 1)
        items = [
            {"cio_id": r.cio_id, "id": r.ident, "email": r.email, "entered_at": r.entered_at, "pk": r.pk}
            for r in found[:limit]
        ]
        return Page(items, items[-1]["pk"] if len(found) > limit else None)

    def history(
        self,
        workspace_id: int,
        key: str | None,
        before: int | None,
        limit: int,
        person: PersonRef | None = None,
    ) -> Page:
        with self.db.read() as conn:
            row = find(conn, workspace_id, key) if key is not None else None
            person_pk = self._person_pk(conn, workspace_id, person) if person is not None else None
            found = rows.history_page(
                conn,
                workspace_id,
                segment_pk=row.pk if row else None,
                person_pk=person_pk,
                before=before,
                limit=limit + 1,
            )
        items = [
            {
                "seq": h.id,
                "segment": h.segment_key,
                "cio_id": h.cio_id,
                "action": h.action,
                "at": h.at,
                "cause": h.cause,
            }
            for h in found[:limit]
        ]
        return Page(items, found[limit - 1].id if len(found) > limit else None)

    def of_person(self, workspace_id: int, person: PersonRef) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            pk = self._person_pk(conn, workspace_id, person)
            return [
                {"id": row.key, "name": row.name, "kind": row.kind, "entered_at": at}
                for row, at in rows.segments_of_person(conn, workspace_id, pk)
            ]

    def _person_pk(self, conn: Connection, workspace_id: int, ref: PersonRef) -> int:
        found = people_rows.find(conn, workspace_id, ref)
        if found is None:
            raise NotFound(f"no person with {ref.kind} {ref.value!r}")
        return found.pk

    # --- manual members ---------------------------------------------------------------------------

    def add_members(
        self, workspace_id: int, key: str, refs: Sequence[PersonRef], source: str, *, create: bool = True
    ) -> dict[str, Any]:
        """Add people to a manual segment. People named by id or email who do not exist are created (as
        Customer.io does) unless ``create`` is false; unknown cio_ids are reported."""
        self._check_count(refs)
        with self.db.read() as conn:
            _manual(find(conn, workspace_id, key))
        if create:
            missing = self._missing(workspace_id, refs)
            creatable = [IdentifyPerson(ref) for ref in missing if ref.kind != "cio_id"]
            if creatable:
                self.ingest.apply(workspace_id, creatable)
        return self._change_members(workspace_id, key, refs, source, add=True)

    def remove_members(
        self, workspace_id: int, key: str, refs: Sequence[PersonRef], source: str
    ) -> dict[str, Any]:
        self._check_count(refs)
        return self._change_members(workspace_id, key, refs, source, add=False)

    def _check_count(self, refs: Sequence[PersonRef]) -> None:
        if len(refs) > MAX_MEMBERS_PER_REQUEST:
            raise ValidationError("ids", f"at most {MAX_MEMBERS_PER_REQUEST} people per request", "too_large")

    def _missing(self, workspace_id: int, refs: Sequence[PersonRef]) -> list[PersonRef]:
        with self.db.read() as conn:
            return [ref for ref in dict.fromkeys(refs) if people_rows.find(conn, workspace_id, ref) is None]

    def _change_members(
        self, workspace_id: int, key: str, refs: Sequence[PersonRef], source: str, *, add: bool
    ) -> dict[str, Any]:
        now: Millis = self.clock.now()
        with self.db.write() as conn:
            rows.claim(conn, workspace_id, wait=True)  # serialised with the membership engine
            row = _manual(find(conn, workspace_id, key))
            found: dict[int, str] = {}
            unknown: list[str] = []
            for ref in dict.fromkeys(refs):
                person = people_rows.find(conn, workspace_id, ref)
                if person is None:
                    unknown.append(ref.value)
                else:
                    found[person.pk] = person.cio_id
            members = rows.members_among(conn, row.pk, found)
            changing = [(pk, cio) for pk, cio in found.items() if (pk in members) != add]
            cause = {"kind": "manual", "source": source}
            rows.record(conn, workspace_id, row, changing if add else [], [] if add else changing, now, cause)
        return {"changed": len(changing), "unchanged": len(found) - len(changing), "unknown": unknown}


def parse_csv(body: bytes) -> list[PersonRef]:
    """People named by a CSV with a header holding an ``id``, ``email`` or ``cio_id`` column."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError("body", "CSV must be UTF-8") from None
    reader = csv.reader(io.StringIO(text))
    header = [h.strip().lower() for h in next(reader, [])]
    column = next((name for name in ("id", "email", "cio_id") if name in header), None)
    if column is None:
        raise ValidationError("body", "the CSV header needs an id, email or cio_id column")
    index = header.index(column)
    refs = []
    for line, record in enumerate(reader, start=2):
        if not record or all(not cell.strip() for cell in record):
            continue
        value = record[index].strip() if index < len(record) else ""
        if not value:
            raise ValidationError(f"line {line}.{column}", "is empty")
        if column == "cio_id" and value.startswith("cio_"):
            value = value[4:]
        refs.append(PersonRef(column, value))
    return refs


def find(conn: Connection, workspace_id: int, key: str) -> rows.SegmentRow:
    """A segment by its id (slug), or by its number (Customer.io's numeric segment ids)."""
    row = rows.find(conn, workspace_id, key)
    if row is None and key.isdigit():
        row = rows.by_pk(conn, int(key))
        if row is not None and (row.workspace_id != workspace_id or row.deleted_at is not None):
            row = None
    if row is None:
        raise NotFound(f"no segment {key!r}")
    return row


def _manual(row: rows.SegmentRow) -> rows.SegmentRow:
    if row.kind != rows.MANUAL:
        raise ValidationError("segment", f"segment {row.key!r} is dynamic; only manual segments take members")
    return row


def _slug(value: Any, path: str) -> str:
    if not isinstance(value, str) or SLUG.fullmatch(value) is None:
        raise ValidationError(
            path,
            "must be a slug: 1 to 100 of a-z, 0-9, '-' and '_', starting with a letter or digit",
        )
    return value


def _cycle(graph: Mapping[str, set[str]], start: str) -> list[str] | None:
    def walk(node: str, path: list[str]) -> list[str] | None:
        for nxt in sorted(graph.get(node, ())):
            if nxt == start:
                return [*path, nxt]
            if nxt not in path:
                found = walk(nxt, [*path, nxt])
                if found:
                    return found
        return None

    return walk(start, [start])


def refs_from_ids(ids: Any, id_type: str, limit_check: Any = None) -> list[PersonRef]:
    """``{"ids": [...]}`` of Customer.io's manual-segment calls, all of one ``id_type``."""
    if id_type not in ("id", "email", "cio_id"):
        raise ValidationError("id_type", "must be id, email or cio_id")
    if not isinstance(ids, list) or not ids:
        raise ValidationError("ids", "must be a non-empty list of identifiers")
    refs = []
    for index, value in enumerate(ids):
        if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
            raise ValidationError(f"ids[{index}]", f"must be a non-empty string ({id_type})")
        text = str(value).strip()
        if "\x00" in text or len(text.encode()) > 300:
            raise ValidationError(f"ids[{index}]", "must be at most 300 bytes, without NUL characters")
        if id_type == "cio_id" and text.startswith("cio_"):
            text = text[4:]
        refs.append(PersonRef(id_type, text))  # type: ignore[arg-type]
    return refs
