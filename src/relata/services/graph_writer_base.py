"""What every write of the graph needs, under ``GraphWriter``'s operations: the reading plan of a run of
operations (``wanted``, ``is_direct``), the bookkeeping of one operation (its change-log rows and
contract violations, kept or forgotten with it), resolving what it names (people, object types,
objects), and the relationship primitives.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from relata.core.attributes import AttributeState
from relata.core.contract import PERSON, Contract, Violation
from relata.core.errors import ValidationError
from relata.core.identity import ObjectRef, PersonRef, normalize_email
from relata.core.limits import Limits
from relata.core.model import ObjectType, Person, StoredObject
from relata.core.operations import (
    AddDevice,
    Anonymous,
    DeleteDevice,
    DeleteObject,
    DeletePerson,
    IdentifyObject,
    IdentifyPerson,
    Link,
    MergePeople,
    ObjectLinks,
    Operation,
    PersonLinks,
    SuppressPerson,
    TrackEvent,
    UnsuppressPerson,
)
from relata.core.times import Millis
from relata.services.graph_session import GraphSession
from relata.services.graph_session_prefetch import Wanted
from relata.services.graph_session_state import person_key
from relata.storage import activity
from relata.storage.links import PERSON_LINKS, Links

_TYPE_NAME = r"[a-z][a-z0-9_]*"
MAX_TYPE_ID_DIGITS = 32  # object_types.type_id


DIRECT_OPERATIONS = (
    DeletePerson,
    DeleteObject,
    SuppressPerson,
    UnsuppressPerson,
    MergePeople,
    AddDevice,
    DeleteDevice,
)


class WriterBase:
    def __init__(self, session: GraphSession, contract: Contract, limits: Limits, now: Millis) -> None:
        self.session = session
        self.conn = session.conn
        self.ws = session.ws
        self.contract = contract
        self.limits = limits
        self.now = now
        self._types: dict[str, ObjectType] = {}
        self._violations: list[tuple[Violation, Mapping[str, Any], bool]] = []
        self._op: Operation | None = None
        self._arrival = True
        self._pending: list[dict[str, Any]] = []
        self._changes: list[dict[str, Any]] = []

    def is_direct(self, op: Operation) -> bool:
        """Whether ``op`` runs SQL of its own (see the module's docstring), rather than only the session's."""
        if isinstance(op, IdentifyPerson):
            return op.anonymous_id is not None and self.session.anonymous_owner(op.anonymous_id) is None
        return isinstance(op, DIRECT_OPERATIONS)

    def wanted(self, ops: Sequence[Operation]) -> Wanted:
        """What ``ops`` will look up, for the session to read in bulk."""
        wanted = Wanted()
        wanted.exclusive_types = {
            spec.to_type
            for spec in self.contract.relationships
            if spec.exclusive and spec.from_type == PERSON
        }

        def person(ref: PersonRef) -> None:
            wanted.people.add(person_key(ref))
            wanted.suppressions.add(suppression_key(ref))

        def target(link: Link) -> None:
            found = link.target
            if isinstance(found, PersonRef):
                person(found)
            elif isinstance(found, Anonymous):
                wanted.anonymous.add(found.anonymous_id)
            else:
                obj(found)

        def obj(ref: ObjectRef) -> None:
            if ref.cio_object_id is not None:
                wanted.cio_objects.add(ref.cio_object_id)
            elif ref.type is not None and ref.object_id is not None:
                spec = self.contract.type_spec(ref.type)
                wanted.objects.add((spec.type_id if spec else ref.type, ref.object_id))

        for op in ops:
            if isinstance(op, IdentifyPerson):
                person(op.person)
                email, ident = op.attributes.get("email"), op.attributes.get("id")
                if isinstance(email, str):
                    person(PersonRef("email", email))
                if isinstance(ident, str | int) and not isinstance(ident, bool):
                    person(PersonRef("id", str(ident)))
                if op.anonymous_id:
                    wanted.anonymous.add(op.anonymous_id)
            elif isinstance(op, TrackEvent):
                wanted.events += 1
                if op.person is not None:
                    person(op.person)
                if op.anonymous_id:
                    wanted.anonymous.add(op.anonymous_id)
                if op.dedupe_id is not None:
                    wanted.dedupe.add(op.dedupe_id)
            elif isinstance(op, PersonLinks):
                person(op.person)
            elif isinstance(op, IdentifyObject | ObjectLinks):
                obj(op.object)
            for link in getattr(op, "links", ()):
                target(link)
        return wanted

    def forget(self) -> None:
        """Drop what a rolled-back operation left: its change-log rows, cached types it created."""
        self._types.clear()
        self._pending.clear()

    def reset_cache(self) -> None:
        """The session was cleared: the types it held may be held anew."""
        self._types.clear()

    def keep(self) -> None:
        """The operation succeeded: its change-log rows will be written."""
        self._changes.extend(self._pending)
        self._pending.clear()

    def flush(self) -> None:
        """Write the session's rows, then the change-log rows of every kept operation, in order."""
        self.session.flush()
        activity.append_changes(self.conn, self._changes)
        self._changes.clear()

    def _log(self, op: str, entity: str, **fields: Any) -> None:
        self._pending.append(activity.change_row(self.ws, self.now, op, entity, **fields))

    def take_violations(self) -> list[tuple[Violation, Mapping[str, Any], bool]]:
        found, self._violations = self._violations, []
        return found

    def _judge(self, found: list[Violation]) -> None:
        """Record violations; in ``enforce`` mode the first one rejects the operation."""
        if not found:
            return
        rejected = self.contract.enforced
        sample = _sample_of(self._op) if self._op is not None else {}
        self._violations.extend((v, sample, rejected) for v in found)
        if rejected:
            raise found[0].error()

    def _existing_person(self, ref: PersonRef, path: str = "identifiers") -> Person | None:
        self.limits.check_identifier(ref.value, f"{path}.{ref.kind}")
        return self.session.find_person(ref)

    def _suppressed(self, ref: PersonRef, attributes: Mapping[str, Any]) -> bool:
        identifiers = [suppression_key(ref)]
        if isinstance(attributes.get("email"), str):
            identifiers.append(("email", normalize_email(attributes["email"])))
        if attributes.get("id") not in (None, ""):
            identifiers.append(("id", str(attributes["id"])))
        return self.session.is_suppressed(identifiers)

    def _person_for_write(self, ref: PersonRef, attributes: Mapping[str, Any], path: str) -> Person | None:
        """The person a write names, created when missing; None when the identifiers are suppressed."""
        person = self._existing_person(ref, path)
        if person is not None:
            return person
        if ref.kind == "cio_id":
            raise ValidationError(f"{path}.cio_id", f"no person has cio_id {ref.value!r}", "not_found")
        if self._suppressed(ref, attributes):
            return None
        writes: dict[str, Any] = {}
        if "created_at" not in attributes:  # the write that creates the person may give its own
            writes["created_at"] = self.now // 1000
        if ref.kind == "email":
            writes["email"] = ref.value
        state, diff = AttributeState().merge(writes, self.now, arrival=True)
        ident = ref.value if ref.kind == "id" else None
        created = self.session.create_person(ident, state)
        self._log(
            "create",
            "person",
            person_pk=created.pk,
            diff=activity.diff_json(diff),
            data={"id": ident, "cio_id": created.cio_id},
        )
        return created

    def _type(self, ref: str, path: str) -> ObjectType:
        """The stored type for ``ref`` (numeric id or name), registering it when the contract allows."""
        cached = self._types.get(ref)
        if cached is not None:
            return cached
        spec = self.contract.type_spec(ref)
        found = self.session.find_type(spec.type_id if spec else ref)
        if spec is not None:
            if found is None:
                holder = self.session.find_type(spec.name)
                if holder is not None:  # a type first seen under this name, with another id
                    self.session.rename_type(holder, f"type_{holder.type_id}")
                found = self.session.create_type(spec.type_id, spec.name)
            elif found.name != spec.name:
                found = self.session.rename_type(found, spec.name)
        elif found is None or self.contract.object_types:
            if self.contract.object_types:
                self._judge(
                    [
                        Violation(
                            found.name if found else ref,
                            None,
                            "unknown_type",
                            f"object type {ref!r} is not in the data contract",
                            path,
                        )
                    ]
                )
            if found is None:
                found = self._register_type(ref, path)
        self._types[ref] = found
        return found

    def _register_type(self, ref: str, path: str) -> ObjectType:
        if ref.isdigit():
            if len(ref) > MAX_TYPE_ID_DIGITS:
                raise ValidationError(path, f"a numeric type id has at most {MAX_TYPE_ID_DIGITS} digits")
            return self.session.create_type(ref, f"type_{ref}")
        if not re.fullmatch(_TYPE_NAME, ref) or len(ref) > 100:
            raise ValidationError(path, f"{ref!r} is not a numeric type id or a lower_snake_case type name")
        return self.session.create_type(self.session.next_type_id(), ref)

    def _object(self, ref: ObjectRef, path: str, create: bool) -> StoredObject | None:
        if ref.cio_object_id is not None:
            found = self.session.find_object_by_cio_id(ref.cio_object_id)
            if found is None and create:
                raise ValidationError(
                    f"{path}.cio_object_id", f"no object has cio_object_id {ref.cio_object_id!r}", "not_found"
                )
            return found
        assert ref.type is not None and ref.object_id is not None
        self.limits.check_identifier(ref.object_id, f"{path}.object_id")
        object_type = self._type(ref.type, f"{path}.object_type_id")
        found = self.session.find_object(object_type, ref.object_id)
        if found is None and create:
            self._judge(self.contract.check_object_id(object_type.name, ref.object_id, f"{path}.object_id"))
            found = self.session.create_object(object_type, ref.object_id, AttributeState())
            self._log(
                "create",
                "object",
                object_pk=found.pk,
                data={"type": object_type.name, "object_id": ref.object_id},
            )
        return found

    def _link_person(self, person: Person, link: Link, stamp: Millis, path: str) -> None:
        if not isinstance(link.target, ObjectRef):
            raise ValidationError(f"{path}.identifiers", "a person's relationship must name an object")
        obj = self._object(link.target, f"{path}.identifiers", create=True)
        assert obj is not None
        self._put_link(PERSON_LINKS, person.pk, obj, link.attributes, stamp, path, PERSON, "person")

    def _put_link(
        self,
        links: Links,
        left: Any,
        obj: StoredObject,
        attributes: Mapping[str, Any],
        stamp: Millis,
        path: str,
        from_type: str,
        entity: str | None,
    ) -> None:
        self.limits.check_attributes(attributes, f"{path}.relationship_attributes")
        self._judge(self.contract.check_relationship(from_type, obj.type.name, attributes, path))
        spec = self.contract.relationship(from_type, obj.type.name)
        if spec is not None and spec.exclusive and links is PERSON_LINKS:
            for other_pk in self.session.linked_of_type(links, left, obj.type.pk):
                if other_pk != obj.pk:
                    self.session.remove_link(links, left, other_pk)
                    self._log(
                        "relationship_remove",
                        "person",
                        person_pk=left,
                        object_pk=other_pk,
                        data={"reason": "exclusive", "replaced_by": obj.pk, "type": obj.type.name},
                    )
        existing = self.session.link(links, left, obj.pk)
        before = existing.state if existing else AttributeState()
        state, diff = before.merge(attributes, stamp, arrival=self._arrival)
        self.limits.check_attribute_count(len(state.values), f"{path}.relationship_attributes")
        if existing is not None and not diff and state.stamps == existing.state.stamps:
            return
        self.session.put_link(links, left, obj.pk, state)
        if entity is None or (existing is not None and not diff):
            return
        op = "relationship_add" if existing is None else "relationship_change"
        self._log_link(op, entity, left, obj, activity.diff_json(diff))

    def _unlink(self, links: Links, left: Any, obj: StoredObject, entity: str) -> None:
        if self.session.remove_link(links, left, obj.pk):
            self._log_link("relationship_remove", entity, left, obj, {})

    def _log_link(self, op: str, entity: str, left: Any, obj: StoredObject, diff: Mapping[str, Any]) -> None:
        data = {"type": obj.type.name, "object_id": obj.object_id}
        if entity == "person":
            self._log(
                op,
                "person",
                person_pk=left,
                object_pk=obj.pk,
                diff=diff,
                data=data,
            )
        else:
            self._log(
                op,
                "object",
                object_pk=obj.pk,
                other_pk=left,
                diff=diff,
                data=data,
            )


def suppression_key(ref: PersonRef) -> tuple[str, str]:
    return (ref.kind, normalize_email(ref.value) if ref.kind == "email" else ref.value)


def _sample_of(op: Operation) -> Mapping[str, Any]:
    """A small, JSON-safe picture of an operation, kept with a contract violation."""
    sample: dict[str, Any] = {"operation": type(op).__name__}
    target = getattr(op, "object", None) or getattr(op, "person", None)
    if target is not None:
        sample["identifiers"] = str(target)
    attributes = getattr(op, "attributes", None)
    if attributes:
        sample["attributes"] = {k: attributes[k] for k in list(attributes)[:20]}
    return sample
