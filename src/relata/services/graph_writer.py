"""Writes of one operation to the object graph, inside the caller's transaction.

Decide first, then act: every check of an operation (identifiers, limits, the contract) runs before the
row it guards is written, and any ``ValidationError`` rolls the operation back.

Reads and writes of people, objects, types, relationships and events go through a ``GraphSession``
(identity map, write-behind, undo per operation). The few operations the session does not model
(``is_direct``) also run SQL of their own; the caller runs them in a savepoint with the session in
write-through mode, and clears the session after.
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
from relata.core.model import Device, ObjectType, Person, StoredObject
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
from relata.services.graph_session import GraphSession, Wanted, person_key
from relata.storage import activity, objects, people
from relata.storage.links import ANONYMOUS_LINKS, OBJECT_LINKS, PERSON_LINKS, Links

_TYPE_NAME = r"[a-z][a-z0-9_]*"
MAX_TYPE_ID_DIGITS = 32  # object_types.type_id
MAX_DEVICE_TOKEN = 500  # devices.token
MAX_PLATFORM = 32  # devices.platform
MAX_EMAIL = 254  # RFC 5321's longest address


class GraphWriter:
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

    # --- bookkeeping ----------------------------------------------------------------------------

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

    # --- planning -------------------------------------------------------------------------------

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
            wanted.suppressions.add(_suppression_key(ref))

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

    # --- dispatch -------------------------------------------------------------------------------

    def apply(self, op: Operation) -> None:
        self._op = op
        # Without a timestamp of its own a write is stamped on arrival, and a later one wins a tie.
        self._arrival = getattr(op, "timestamp", None) is None
        match op:
            case IdentifyPerson():
                self._identify_person(op)
            case TrackEvent():
                self._track(op)
            case IdentifyObject():
                self._identify_object(op)
            case PersonLinks():
                self._person_links(op)
            case ObjectLinks():
                self._object_links(op)
            case DeletePerson():
                person = self._existing_person(op.person)
                if person is not None:
                    self._delete_person(person, "delete")
            case DeleteObject():
                obj = self._object(op.object, "identifiers", create=False)
                if obj is not None:
                    self._delete_object(obj)
            case SuppressPerson():
                self._suppress(op.person)
            case UnsuppressPerson():
                self._unsuppress(op.person)
            case MergePeople():
                self._merge(op)
            case AddDevice():
                self._add_device(op)
            case DeleteDevice():
                person = self._existing_person(op.person)
                if person is not None and activity.remove_device(self.conn, self.ws, person.pk, op.token):
                    self._log(
                        "update",
                        "person",
                        person_pk=person.pk,
                        data={"device_removed": op.token},
                    )

    # --- people ---------------------------------------------------------------------------------

    def _existing_person(self, ref: PersonRef, path: str = "identifiers") -> Person | None:
        self.limits.check_identifier(ref.value, f"{path}.{ref.kind}")
        return self.session.find_person(ref)

    def _suppressed(self, ref: PersonRef, attributes: Mapping[str, Any]) -> bool:
        identifiers = [_suppression_key(ref)]
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

    def _identify_person(self, op: IdentifyPerson) -> None:
        writes = dict(op.attributes)
        new_id = writes.pop("id", None)
        self.limits.check_attributes(writes, "attributes")
        if (new_id is not None and not isinstance(new_id, str | int)) or isinstance(new_id, bool):
            raise ValidationError("attributes.id", "must be a string")
        if op.created_at is not None:
            writes["created_at"] = op.created_at // 1000
        person = self._existing_person(op.person)
        if person is None and op.person.kind == "id" and isinstance(writes.get("email"), str):
            # A person known so far only by email gets this id (a lead who signs up).
            by_email = self.session.find_person(PersonRef("email", writes["email"]))
            if by_email is not None and by_email.id is None:
                person = by_email
        if person is None:
            if op.update_only:
                return
            person = self._person_for_write(op.person, {**writes, "id": new_id}, "identifiers")
            if person is None:
                return
        stamp = op.timestamp if op.timestamp is not None else self.now
        if op.person.kind == "email" and "email" not in writes and person.email is None:
            writes["email"] = op.person.value
        ident = person.id
        if op.person.kind != "id" and new_id not in (None, ""):
            ident = str(new_id)
            self.limits.check_identifier(ident, "attributes.id")
        elif op.person.kind == "id":
            ident = op.person.value
        state, diff = AttributeState(person.attributes, person.stamps).merge(
            writes, stamp, arrival=self._arrival
        )
        self.limits.check_attribute_count(len(state.values), "attributes")
        self._judge(self.contract.check_person(writes, state.values, ""))
        self._check_unique(person, ident, state)
        if diff or ident != person.id:
            saved = self.session.save_person(person, ident, state)
            data = {"id": ident} if ident != person.id else {}
            if diff or data:
                self._log(
                    "update",
                    "person",
                    person_pk=saved.pk,
                    diff=activity.diff_json(diff),
                    data=data,
                )
        if op.anonymous_id:
            self.limits.check_identifier(op.anonymous_id, "anonymous_id")
            self._adopt_anonymous(person.pk, op.anonymous_id)
        for index, link in enumerate(op.links):
            self._link_person(person, link, stamp, f"cio_relationships[{index}]")

    def _check_unique(self, person: Person, ident: str | None, state: AttributeState) -> None:
        if ident is not None and ident != person.id:
            owner = self.session.owner_of("id", ident)
            if owner is not None and owner != person.pk:
                raise ValidationError("attributes.id", f"id {ident!r} belongs to another person", "conflict")
        email = state.values.get("email")
        if email is not None:
            if not isinstance(email, str) or "@" not in email or len(email) > MAX_EMAIL:
                raise ValidationError("attributes.email", "must be an email address")
            if person.email is None or normalize_email(email) != normalize_email(person.email):
                owner = self.session.owner_of("email", email)
                if owner is not None and owner != person.pk:
                    raise ValidationError(
                        "attributes.email", f"{email!r} belongs to another person", "conflict"
                    )

    def _adopt_anonymous(self, person_pk: int, anonymous_id: str) -> None:
        """Anonymous activity (events, relationships) carries over to the person it turns out to be."""
        if self.session.anonymous_owner(anonymous_id) is not None:
            return
        if not people.claim_anonymous(self.conn, self.ws, anonymous_id, person_pk, self.now):
            return
        moved_events = activity.adopt_anonymous_events(self.conn, self.ws, anonymous_id, person_pk)
        links = ANONYMOUS_LINKS.of_left(self.conn, self.ws, anonymous_id)
        for link in links:
            mine = self.session.link(PERSON_LINKS, person_pk, link.right)
            merged = link.state if mine is None else _merge_states(mine.state, link.state)
            self.session.put_link(PERSON_LINKS, person_pk, link.right, merged)
            self.session.remove_link(ANONYMOUS_LINKS, anonymous_id, link.right)
            self._log(
                "relationship_add",
                "person",
                person_pk=person_pk,
                object_pk=link.right,
                diff=activity.diff_json({k: (None, v) for k, v in merged.values.items()}),
                data={"from_anonymous_id": anonymous_id},
            )
        self._log(
            "merge",
            "person",
            person_pk=person_pk,
            data={"anonymous_id": anonymous_id, "events": moved_events, "relationships": len(links)},
        )

    def _delete_person(self, person: Person, op: str) -> None:
        people.remove(self.conn, person.pk)  # relationships, devices, events, anonymous ids cascade
        self._log(
            op,
            "person",
            person_pk=person.pk,
            data={"id": person.id, "email": person.email, "cio_id": person.cio_id},
        )

    def _suppress(self, ref: PersonRef) -> None:
        person = self._existing_person(ref)
        identifiers = [_suppression_key(ref)]
        if person is not None:
            if person.id:
                identifiers.append(("id", person.id))
            if person.email:
                identifiers.append(("email", normalize_email(person.email)))
            self._delete_person(person, "suppress")
        elif ref.kind == "cio_id":
            raise ValidationError("identifiers.cio_id", f"no person has cio_id {ref.value!r}", "not_found")
        activity.suppress(self.conn, self.ws, sorted(set(identifiers)), self.now)

    def _unsuppress(self, ref: PersonRef) -> None:
        if ref.kind == "cio_id":
            raise ValidationError("identifiers.cio_id", "unsuppress a person by id or email", "invalid")
        if activity.unsuppress(self.conn, self.ws, [_suppression_key(ref)]):
            self._log("unsuppress", "person", data={ref.kind: ref.value})

    def _merge(self, op: MergePeople) -> None:
        if op.primary == op.secondary:
            raise ValidationError("secondary", "must name a different person than primary")
        secondary = self._existing_person(op.secondary, "secondary")
        if secondary is None:
            return
        primary = self._person_for_write(op.primary, {}, "primary")
        if primary is None:
            return
        if primary.pk == secondary.pk:
            return
        # The primary keeps its own attributes and gains the ones it lacks.
        values = dict(primary.attributes)
        stamps = dict(primary.stamps)
        gained: dict[str, tuple[Any, Any]] = {}
        for name, value in secondary.attributes.items():
            if name not in values and name != "email":
                values[name] = value
                stamps[name] = secondary.stamps.get(name, self.now)
                gained[name] = (None, value)
        person_state = AttributeState(values, stamps)
        shared = {
            link.right: _merge_states(link.state, other.state)
            for link in PERSON_LINKS.of_left(self.conn, self.ws, primary.pk)
            for other in [PERSON_LINKS.get(self.conn, self.ws, secondary.pk, link.right)]
            if other
        }
        PERSON_LINKS.move_left(self.conn, self.ws, secondary.pk, primary.pk, shared, self.now)
        moved_events = activity.move_events(self.conn, secondary.pk, primary.pk)
        activity.move_devices(self.conn, secondary.pk, primary.pk)
        people.move_anonymous_ids(self.conn, secondary.pk, primary.pk)
        people.remove(self.conn, secondary.pk)
        people.save(self.conn, primary, primary.id, person_state, self.now)
        self._log(
            "delete",
            "person",
            person_pk=secondary.pk,
            data={
                "merged_into": primary.cio_id,
                "id": secondary.id,
                "email": secondary.email,
                "cio_id": secondary.cio_id,
            },
        )
        self._log(
            "merge",
            "person",
            person_pk=primary.pk,
            diff=activity.diff_json(gained),
            data={
                "secondary": {"id": secondary.id, "email": secondary.email, "cio_id": secondary.cio_id},
                "events": moved_events,
            },
        )

    def _add_device(self, op: AddDevice) -> None:
        if not op.token.strip():
            raise ValidationError("device.token", "must not be empty")
        if len(op.token) > MAX_DEVICE_TOKEN:
            raise ValidationError(
                "device.token", f"is longer than {MAX_DEVICE_TOKEN} characters", "too_large"
            )
        if op.platform is not None and len(op.platform) > MAX_PLATFORM:
            raise ValidationError("device.platform", f"is longer than {MAX_PLATFORM} characters", "too_large")
        self.limits.check_attributes(op.attributes, "device.attributes")
        person = self._person_for_write(op.person, {}, "identifiers")
        if person is None:
            return
        device = Device(op.token, op.platform, op.last_used, dict(op.attributes))
        activity.put_device(self.conn, self.ws, person.pk, device, self.now)
        self._log(
            "update",
            "person",
            person_pk=person.pk,
            data={"device_added": op.token, "platform": op.platform},
        )

    # --- events ---------------------------------------------------------------------------------

    def _track(self, op: TrackEvent) -> None:
        self.limits.check_event_name(op.name, "name")
        if not op.name.strip():
            raise ValidationError("name", "must not be empty")
        self.limits.check_event_data(op.data, "data")
        if op.dedupe_id is not None:
            self.limits.check_identifier(op.dedupe_id, "id")
            if self.session.event_exists(op.dedupe_id):
                return
        person_pk: int | None = None
        if op.person is not None:
            person = self._person_for_write(op.person, {}, "identifiers")
            if person is None:
                return
            person_pk = person.pk
        elif op.anonymous_id:
            self.limits.check_identifier(op.anonymous_id, "anonymous_id")
            person_pk = self.session.anonymous_owner(op.anonymous_id)
        elif not op.data.get("recipient"):
            # Customer.io's invite events name no one: they carry the address in data.recipient.
            raise ValidationError(
                "anonymous_id", "an event needs a person, an anonymous_id, or data.recipient (an invite)"
            )
        timestamp = op.timestamp if op.timestamp is not None else self.now
        event_pk = self.session.add_event(
            person_pk,
            op.anonymous_id if person_pk is None else None,
            op.name,
            op.type,
            op.data,
            timestamp,
            op.dedupe_id,
        )
        self._log(
            "event",
            "person",
            person_pk=person_pk,
            data={
                "event": event_pk,
                "name": op.name,
                "type": op.type,
                "timestamp": timestamp,
                **({"anonymous_id": op.anonymous_id} if person_pk is None else {}),
            },
        )

    # --- objects --------------------------------------------------------------------------------

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

    def _identify_object(self, op: IdentifyObject) -> None:
        self.limits.check_attributes(op.attributes, "attributes")
        obj = self._object(op.object, "identifiers", create=False)
        if obj is None and op.object.cio_object_id is not None:
            raise ValidationError(
                "identifiers.cio_object_id",
                f"no object has cio_object_id {op.object.cio_object_id!r}",
                "not_found",
            )
        object_type = obj.type if obj else self._type(str(op.object.type), "identifiers.object_type_id")
        object_id = obj.object_id if obj else str(op.object.object_id)
        specs = self.contract.attribute_specs(object_type.name)
        writes = self.contract.normalize(specs, op.attributes) if specs else dict(op.attributes)
        stamp = op.timestamp if op.timestamp is not None else self.now
        before = AttributeState(obj.attributes, obj.stamps) if obj else AttributeState()
        state, diff = before.merge(writes, stamp, arrival=self._arrival)
        self.limits.check_attribute_count(len(state.values), "attributes")
        if object_type.name in self.contract.object_types:
            self._judge(self.contract.check_object(object_type.name, object_id, writes, state.values, ""))
        if obj is None:
            obj = self.session.create_object(object_type, object_id, state)
            self._log(
                "create",
                "object",
                object_pk=obj.pk,
                diff=activity.diff_json(diff),
                data={"type": object_type.name, "object_id": object_id},
            )
        elif diff or (state.stamps != obj.stamps):
            obj = self.session.save_object(obj, state)
            if diff:
                self._log(
                    "update",
                    "object",
                    object_pk=obj.pk,
                    diff=activity.diff_json(diff),
                )
        for index, link in enumerate(op.links):
            self._link_from_object(obj, link, stamp, f"cio_relationships[{index}]", remove=False)

    def _delete_object(self, obj: StoredObject) -> None:
        objects.remove(self.conn, obj.pk)  # its relationships cascade
        self._log(
            "delete",
            "object",
            object_pk=obj.pk,
            data={"type": obj.type.name, "object_id": obj.object_id, "attributes": dict(obj.attributes)},
        )

    # --- relationships --------------------------------------------------------------------------

    def _person_links(self, op: PersonLinks) -> None:
        if not op.links:
            raise ValidationError("cio_relationships", "must list at least one relationship")
        person = (
            self._existing_person(op.person)
            if op.remove
            else self._person_for_write(op.person, {}, "identifiers")
        )
        if person is None:
            return
        stamp = op.timestamp if op.timestamp is not None else self.now
        for index, link in enumerate(op.links):
            path = f"cio_relationships[{index}]"
            if not isinstance(link.target, ObjectRef):
                raise ValidationError(f"{path}.identifiers", "a person's relationship must name an object")
            if op.remove:
                target = self._object(link.target, f"{path}.identifiers", create=False)
                if target is not None:
                    self._unlink(PERSON_LINKS, person.pk, target, "person")
            else:
                self._link_person(person, link, stamp, path)

    def _object_links(self, op: ObjectLinks) -> None:
        if not op.links:
            raise ValidationError("cio_relationships", "must list at least one relationship")
        obj = self._object(op.object, "identifiers", create=not op.remove)
        if obj is None:
            return
        stamp = op.timestamp if op.timestamp is not None else self.now
        for index, link in enumerate(op.links):
            self._link_from_object(obj, link, stamp, f"cio_relationships[{index}]", op.remove)

    def _link_from_object(
        self, obj: StoredObject, link: Link, stamp: Millis, path: str, remove: bool
    ) -> None:
        target = link.target
        if isinstance(target, PersonRef):
            person = (
                self._existing_person(target, f"{path}.identifiers")
                if remove
                else self._person_for_write(target, {}, f"{path}.identifiers")
            )
            if person is None:
                return
            if remove:
                self._unlink(PERSON_LINKS, person.pk, obj, "person")
            else:
                self._put_link(PERSON_LINKS, person.pk, obj, link.attributes, stamp, path, PERSON, "person")
        elif isinstance(target, Anonymous):
            self.limits.check_identifier(target.anonymous_id, f"{path}.identifiers.anonymous_id")
            owner = self.session.anonymous_owner(target.anonymous_id)
            if owner is not None:
                person = self.session.person(owner)
                assert person is not None
                self._link_from_object(
                    obj, Link(PersonRef("cio_id", person.cio_id), link.attributes), stamp, path, remove
                )
            elif remove:
                self.session.remove_link(ANONYMOUS_LINKS, target.anonymous_id, obj.pk)
            else:
                self._put_link(
                    ANONYMOUS_LINKS, target.anonymous_id, obj, link.attributes, stamp, path, PERSON, None
                )
        else:
            child = self._object(target, f"{path}.identifiers", create=not remove)
            if child is None:
                return
            if child.pk == obj.pk:
                raise ValidationError(f"{path}.identifiers", "an object cannot be related to itself")
            if remove:
                self._unlink(OBJECT_LINKS, obj.pk, child, "object")
            else:
                self._put_link(
                    OBJECT_LINKS, obj.pk, child, link.attributes, stamp, path, obj.type.name, "object"
                )

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


DIRECT_OPERATIONS = (
    DeletePerson,
    DeleteObject,
    SuppressPerson,
    UnsuppressPerson,
    MergePeople,
    AddDevice,
    DeleteDevice,
)


def _suppression_key(ref: PersonRef) -> tuple[str, str]:
    return (ref.kind, normalize_email(ref.value) if ref.kind == "email" else ref.value)


def _merge_states(mine: AttributeState, other: AttributeState) -> AttributeState:
    """Relationship attributes of two links to one object, merged attribute by attribute by stamp."""
    state = mine
    for name, value in other.values.items():
        state, _ = state.merge({name: value}, other.stamps.get(name, 0))
    return state


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
