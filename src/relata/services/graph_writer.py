"""Writes of one operation to the object graph, inside the caller's transaction.

Decide first, then act: every check of an operation (identifiers, limits, the contract) runs before the
row it guards is written, and any ``ValidationError`` rolls the operation back.

Reads and writes of people, objects, types, relationships and events go through a ``GraphSession``
(identity map, write-behind, undo per operation). The few operations the session does not model
(``is_direct``) also run SQL of their own; the caller runs them in a savepoint with the session in
write-through mode, and clears the session after.
"""

from __future__ import annotations

from typing import Any

from relata.core.attributes import AttributeState
from relata.core.contract import PERSON
from relata.core.errors import ValidationError
from relata.core.identity import ObjectRef, PersonRef, normalize_email
from relata.core.model import Device, Person, StoredObject
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
from relata.services.graph_writer_base import WriterBase, suppression_key
from relata.storage import activity, objects, people
from relata.storage.links import ANONYMOUS_LINKS, OBJECT_LINKS, PERSON_LINKS

MAX_DEVICE_TOKEN = 500  # devices.token
MAX_PLATFORM = 32  # devices.platform
MAX_EMAIL = 254  # RFC 5321's longest address


class GraphWriter(WriterBase):
    """Applies one operation at a time (``apply``); see ``WriterBase`` for what they share."""

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
        identifiers = [suppression_key(ref)]
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
        if activity.unsuppress(self.conn, self.ws, [suppression_key(ref)]):
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


def _merge_states(mine: AttributeState, other: AttributeState) -> AttributeState:
    """Relationship attributes of two links to one object, merged attribute by attribute by stamp."""
    state = mine
    for name, value in other.values.items():
        state, _ = state.merge({name: value}, other.stamps.get(name, 0))
    return state
