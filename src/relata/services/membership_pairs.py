"""Which (segment, person) pairs a batch of change-log rows can affect (SPEC §6, §14).

How a change maps to pairs (``membership_plan.dependencies`` gives what each segment reads):
person create / merge → every segment; person update → segments reading a changed attribute; event →
segments testing its name; person→object link → segments with a first hop to its type; object
attribute change → every position reading that type and attribute, walked back through the current
links to the people; object→object link → positions whose hop joins the two types; object deletion →
the people and objects the change log says were ever linked to it (its links are gone), then walked
back; ``segment_entered``/``segment_exited`` → segments with that ``segment`` leaf. A person deletion
maps to no pair: it is returned apart, to exit from every segment.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, and_, select

from relata.services.membership_evaluate import Cause, Compiled, Pairs
from relata.storage import segments as rows
from relata.storage.schema import changes, object_links, object_types, objects, people, person_links

Deleted = tuple[int, Cause, Mapping[str, Any]]  # person pk, cause, the change's data


def affected_pairs(
    conn: Connection, workspace_id: int, compiled: Sequence[Compiled], found: Sequence[Any]
) -> tuple[Pairs, list[Deleted]]:
    """The pairs the change-log rows ``found`` can affect, each with its cause; the people deleted."""
    type_ids = _type_ids(conn, workspace_id)
    pairs: Pairs = defaultdict(dict)
    deleted: list[Deleted] = []
    objects_changed: list[tuple[int, str | None, set[str], Cause]] = []
    objects_deleted: list[tuple[int, str, Cause]] = []
    object_links_changed: list[tuple[int, int, Cause]] = []
    for change in found:
        cause: Cause = {"seq": int(change.seq), "op": change.op}
        person = change.person_pk
        if change.entity == "person":
            if person is None:
                continue
            if change.op in ("delete", "suppress"):
                deleted.append((person, cause, change.data))
                continue
            for seg in compiled:
                if _person_change_affects(seg, change, type_ids):
                    pairs[seg.row.pk][person] = cause
        elif change.op in ("create", "update"):
            keys = set(change.diff)
            if keys:
                objects_changed.append((int(change.object_pk), change.data.get("type"), keys, cause))
        elif change.op == "delete":
            objects_deleted.append((int(change.object_pk), str(change.data.get("type")), cause))
        elif change.op.startswith("relationship_") and change.other_pk is not None:
            object_links_changed.append((int(change.other_pk), int(change.object_pk), cause))
    if compiled and (objects_changed or objects_deleted or object_links_changed):
        walker = _Walker(conn, workspace_id)
        walker.objects_changed(compiled, objects_changed, pairs)
        walker.links_changed(compiled, object_links_changed, pairs)
        walker.objects_deleted(compiled, objects_deleted, pairs)
    return pairs, deleted


def _person_change_affects(seg: Compiled, change: Any, type_ids: Mapping[str, str]) -> bool:
    deps = seg.deps
    op = change.op
    if op in ("create", "merge"):
        return True
    if op == "update":
        keys = set(change.diff)
        if change.data.get("id") is not None or "id" in change.data:
            keys.add("id")
        return bool(keys & deps.person_fields)
    if op == "event":
        return change.data.get("name") in deps.events
    if op.startswith("relationship_"):
        refs = _type_refs(type_ids, change.data.get("type"))
        return any(p.path[0][1] in refs for p in deps.positions if len(p.path) == 1)
    if op in ("segment_entered", "segment_exited"):
        return change.data.get("segment") in deps.segments
    return False


def _type_refs(type_ids: Mapping[str, str], name: Any) -> set[str]:
    """The refs (name and numeric id) a condition may use for the type named ``name``."""
    if not isinstance(name, str):
        return set()
    return {name} | ({type_ids[name]} if name in type_ids else set())


def _type_ids(conn: Connection, workspace_id: int) -> dict[str, str]:
    found = conn.execute(
        select(object_types.c.name, object_types.c.type_id).where(object_types.c.workspace_id == workspace_id)
    )
    return {r[0]: r[1] for r in found}


class _Walker:
    """Finds the people a change to objects can affect, walking positions backwards over links."""

    def __init__(self, conn: Connection, workspace_id: int) -> None:
        self.conn = conn
        self.ws = workspace_id
        self._types: dict[int, set[str]] = {}

    def types_of(self, pks: Iterable[int]) -> dict[int, set[str]]:
        wanted = sorted(set(pks) - set(self._types))
        for start in range(0, len(wanted), 500):
            found = self.conn.execute(
                select(objects.c.pk, object_types.c.name, object_types.c.type_id)
                .select_from(objects.join(object_types, object_types.c.id == objects.c.type_pk))
                .where(objects.c.pk.in_(wanted[start : start + 500]))
            )
            for pk, name, type_id in found:
                self._types[int(pk)] = {name, type_id}
        return {pk: self._types.get(pk, set()) for pk in pks}

    def type_refs(self, name: str | None, pk: int) -> set[str]:
        if name is not None:
            type_id = self.conn.execute(
                select(object_types.c.type_id).where(
                    object_types.c.workspace_id == self.ws, object_types.c.name == name
                )
            ).scalar()
            return {name, *([type_id] if type_id else [])}
        return self.types_of([pk])[pk]

    def people(self, path: Sequence[tuple[str, str]], level: int, start: set[int]) -> set[int]:
        """People reaching the objects ``start`` (at ``level`` = number of hops) along ``path``."""
        current = start
        for index in range(level - 1, -1, -1):
            if not current:
                return set()
            direction = path[index][0]
            if direction == "person":
                return self._neighbours(person_links.c.object_pk, person_links.c.person_pk, current)
            found: set[int] = set()
            if direction in ("down", "both"):
                found |= self._neighbours(object_links.c.child_pk, object_links.c.parent_pk, current)
            if direction in ("up", "both"):
                found |= self._neighbours(object_links.c.parent_pk, object_links.c.child_pk, current)
            current = found
        return set()

    def _neighbours(self, own: Any, other: Any, pks: set[int]) -> set[int]:
        ordered = sorted(pks)
        found: set[int] = set()
        for start in range(0, len(ordered), 500):
            found.update(
                int(r[0])
                for r in self.conn.execute(
                    select(other).where(own.in_(ordered[start : start + 500])).distinct()
                )
            )
        return found

    def objects_changed(
        self,
        compiled: Sequence[Compiled],
        found: Sequence[tuple[int, str | None, set[str], Cause]],
        pairs: Pairs,
    ) -> None:
        for pk, name, keys, cause in found:
            refs = self.type_refs(name, pk)
            for seg in compiled:
                for position in seg.deps.reads_type(refs):
                    if position.fields & keys:
                        for person in self.people(position.path, len(position.path), {pk}):
                            pairs[seg.row.pk][person] = cause

    def links_changed(
        self, compiled: Sequence[Compiled], found: Sequence[tuple[int, int, Cause]], pairs: Pairs
    ) -> None:
        """An object→object link (parent, child) changed: positions whose hop joins the two types."""
        if not found:
            return
        types = self.types_of([pk for parent, child, _ in found for pk in (parent, child)])
        for parent, child, cause in found:
            for seg in compiled:
                for position in seg.deps.positions:
                    path = position.path
                    for index in range(1, len(path)):
                        direction, target = path[index]
                        before = path[index - 1][1]
                        starts: set[int] = set()
                        if (
                            direction in ("down", "both")
                            and before in types[parent]
                            and target in types[child]
                        ):
                            starts.add(parent)
                        if direction in ("up", "both") and before in types[child] and target in types[parent]:
                            starts.add(child)
                        for person in self.people(path, index, starts):
                            pairs[seg.row.pk][person] = cause

    def objects_deleted(
        self, compiled: Sequence[Compiled], found: Sequence[tuple[int, str, Cause]], pairs: Pairs
    ) -> None:
        """The object's links are gone: the change log says who and what it was ever linked to."""
        for pk, name, cause in found:
            refs = self.type_refs(name, pk)
            for seg in compiled:
                for position in seg.deps.reads_type(refs):
                    direction = position.path[-1][0]
                    level = len(position.path)
                    if direction == "person":
                        reached = self.ever_people(pk)
                    else:
                        before: set[int] = set()
                        if direction in ("down", "both"):
                            before |= self.ever_linked(pk, parents=True)
                        if direction in ("up", "both"):
                            before |= self.ever_linked(pk, parents=False)
                        reached = self.people(position.path, level - 1, before)
                    for person in reached:
                        pairs[seg.row.pk][person] = cause

    def ever_people(self, object_pk: int) -> set[int]:
        found = {
            int(r[0])
            for r in self.conn.execute(
                select(changes.c.person_pk)
                .where(
                    changes.c.workspace_id == self.ws,
                    changes.c.object_pk == object_pk,
                    changes.c.entity == "person",
                    changes.c.person_pk.is_not(None),
                )
                .distinct()
            )
        }
        return current_people(self.conn, self.ws, found)

    def ever_linked(self, object_pk: int, *, parents: bool) -> set[int]:
        if parents:
            query = select(changes.c.other_pk).where(
                changes.c.workspace_id == self.ws,
                changes.c.object_pk == object_pk,
                changes.c.entity == "object",
                changes.c.other_pk.is_not(None),
            )
        else:
            query = select(changes.c.object_pk).where(
                changes.c.workspace_id == self.ws,
                changes.c.other_pk == object_pk,
                changes.c.entity == "object",
            )
        return {int(r[0]) for r in self.conn.execute(query.distinct()) if r[0] is not None}


def current_people(conn: Connection, workspace_id: int, pks: set[int]) -> set[int]:
    """``pks`` with people merged away replaced by the people they were merged into."""
    alive = _existing(conn, workspace_id, pks)
    gone = sorted(pks - alive)
    for _ in range(5):  # a chain of merges
        if not gone:
            break
        heirs = [
            r.data.get("merged_into")
            for r in conn.execute(
                select(changes.c.data).where(
                    and_(
                        changes.c.workspace_id == workspace_id,
                        changes.c.person_pk.in_(gone),
                        changes.c.op == "delete",
                        changes.c.entity == "person",
                    )
                )
            )
        ]
        names = [h for h in heirs if isinstance(h, str)]
        if not names:
            break
        found = {
            int(r[0]): int(r[0])
            for r in conn.execute(
                select(people.c.pk).where(people.c.workspace_id == workspace_id, people.c.cio_id.in_(names))
            )
        }
        alive |= set(found)
        gone = []
    return alive


def _existing(conn: Connection, workspace_id: int, pks: Iterable[int]) -> set[int]:
    return set(rows.person_identities(conn, workspace_id, pks))


__all__ = ["Deleted", "affected_pairs", "current_people"]
