"""Pipelines (Segment-compatible) messages parsed into core write operations (SPEC §3.3).

Pure: no I/O. ``parse`` turns one message into the operations that carry it out, with the renames that
turn an operation's error path (``attributes.email``) back into the message's own field
(``traits.email``). The mapping and its decisions are described in ``docs/api/pipelines.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from relata.api import wire
from relata.api.body import require_object
from relata.core.errors import ValidationError
from relata.core.identity import ObjectRef, PersonRef
from relata.core.operations import (
    AddDevice,
    Anonymous,
    DeleteDevice,
    DeleteObject,
    DeletePerson,
    EventType,
    IdentifyObject,
    IdentifyPerson,
    Link,
    MergePeople,
    ObjectLinks,
    Operation,
    SuppressPerson,
    TrackEvent,
    UnsuppressPerson,
)
from relata.core.times import Millis

KINDS = ("identify", "track", "page", "screen", "group", "alias")
DEFAULT_OBJECT_TYPE = "1"
ANONYMOUS_IDENTIFY_EVENT = "identify"
LATEST: Millis = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
Renames = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Parsed:
    """The operations of one message, and how their error paths read in the message's terms."""

    kind: str
    operations: tuple[Operation, ...]
    renames: Renames = ()

    def field(self, path: str) -> str:
        for prefix, name in self.renames:
            if path == prefix or path.startswith((prefix + ".", prefix + "[")):
                return name + path[len(prefix) :]
        return path


@dataclass(frozen=True)
class _Message:
    """What every call type shares: who, when, which message, in what context."""

    body: Mapping[str, Any]
    context: Mapping[str, Any]
    user_id: str | None
    anonymous_id: str | None
    timestamp: Millis | None
    message_id: str | None

    def person(self) -> PersonRef | None:
        return None if self.user_id is None else PersonRef("id", self.user_id)

    def require_user(self, what: str) -> PersonRef:
        if self.user_id is None:
            raise ValidationError("userId", f"is required for {what}")
        return PersonRef("id", self.user_id)

    def require_someone(self) -> None:
        if self.user_id is None and self.anonymous_id is None:
            raise ValidationError("userId", "is required (or anonymousId)")


def parse(message: Any, kind: str | None = None, batch_context: Mapping[str, Any] | None = None) -> Parsed:
    """One message; ``kind`` is the endpoint's call type, or ``None`` to read the message's ``type``."""
    body = require_object(message, "")
    _reject_nul(body, "")
    if kind is None:
        kind = wire.text(body.get("type"), "type")
        if kind not in KINDS:
            raise ValidationError("type", f"{kind!r} is not one of {', '.join(KINDS)}")
    context = merge_context(batch_context or {}, wire.attributes(body.get("context"), "context"))
    _reject_nul(context, "context")
    msg = _Message(
        body=body,
        context=context,
        user_id=_ident(body.get("userId"), "userId"),
        anonymous_id=_ident(body.get("anonymousId"), "anonymousId"),
        timestamp=_timestamp(body),
        message_id=_ident(body.get("messageId"), "messageId"),
    )
    return _PARSERS[kind](msg)


def merge_context(base: Mapping[str, Any], own: Mapping[str, Any]) -> dict[str, Any]:
    """A batch's ``context`` under a message's own: nested objects merge, the message's values win."""
    merged = dict(base)
    for key, value in own.items():
        below = merged.get(key)
        if isinstance(value, Mapping) and isinstance(below, Mapping):
            merged[key] = merge_context(below, value)
        else:
            merged[key] = value
    return merged


# --- shared pieces ---------------------------------------------------------------------------------


def _reject_nul(value: Any, path: str) -> None:
    """PostgreSQL stores no NUL character in text or JSONB: refuse it up front, naming the field."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValidationError(path, "must not contain NUL (\\u0000) characters")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key):
                raise ValidationError(where, "names must not contain NUL (\\u0000) characters")
            _reject_nul(item, where)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _reject_nul(item, f"{path}[{index}]")


def _ident(value: Any, path: str) -> str | None:
    found = wire.text(value, path, required=False)
    if found is not None and not found.strip():
        raise ValidationError(path, "must not be blank")
    return found


def _time(value: Any, path: str) -> Millis | None:
    found = wire.timestamp(value, path)
    if found is not None and found > LATEST:
        raise ValidationError(path, "is after the year 9999")
    return found


def _timestamp(body: Mapping[str, Any]) -> Millis | None:
    if body.get("timestamp") is not None:
        return _time(body["timestamp"], "timestamp")
    return _time(body.get("originalTimestamp"), "originalTimestamp")


def _first(*candidates: tuple[str, Any]) -> tuple[str, Any]:
    """The first candidate ``(field, value)`` whose value is given; the first field when none is."""
    for candidate in candidates:
        if candidate[1] not in (None, ""):
            return candidate
    return candidates[0][0], None


def _event_renames(name_field: str, data_field: str) -> Renames:
    return (
        ("identifiers.id", "userId"),
        ("identifiers", "userId"),
        ("anonymous_id", "anonymousId"),
        ("name", name_field),
        ("data", data_field),
        ("id", "messageId"),
    )


def _event(
    msg: _Message, name: str, data: Mapping[str, Any], type_: EventType, renames: Renames, kind: str = ""
) -> Parsed:
    msg.require_someone()
    operation = TrackEvent(
        msg.person(),
        msg.anonymous_id,
        name,
        dict(data),
        type_,
        msg.timestamp,
        msg.message_id,
    )
    return Parsed(kind or (type_ if type_ != "event" else "track"), (operation,), renames)


# --- identify --------------------------------------------------------------------------------------


def _identify(msg: _Message) -> Parsed:
    traits = wire.attributes(msg.body.get("traits"), "traits")
    attributes = dict(traits)
    created_at: Millis | None = None
    for key in ("created_at", "createdAt"):
        raw = attributes.pop(key, None)
        if raw not in (None, ""):
            created_at = _time(raw, f"traits.{key}")
    email = traits.get("email")
    if msg.user_id is not None:
        person, person_field = PersonRef("id", msg.user_id), "userId"
    elif isinstance(email, str) and "@" in email:
        person, person_field = PersonRef("email", email), "traits.email"
    elif msg.anonymous_id is not None:
        # Nobody to hold the traits yet: keep them as an anonymous event, which moves to the person
        # when this anonymousId is identified (docs/api/pipelines.md, "Anonymous identify").
        kept: Renames = (("anonymous_id", "anonymousId"), ("data", "traits"), ("id", "messageId"))
        return _event(msg, ANONYMOUS_IDENTIFY_EVENT, traits, "event", kept, "identify")
    else:
        raise ValidationError("userId", "is required (or traits.email, or anonymousId)")
    operation = IdentifyPerson(
        person,
        attributes,
        timestamp=msg.timestamp,
        anonymous_id=msg.anonymous_id,
        created_at=created_at,
    )
    renames = (
        ("identifiers.id", "userId"),
        ("identifiers.email", "traits.email"),
        ("identifiers", person_field),
        ("attributes", "traits"),
        ("anonymous_id", "anonymousId"),
    )
    return Parsed("identify", (operation,), renames)


# --- track, page, screen ---------------------------------------------------------------------------


def _track(msg: _Message) -> Parsed:
    name = wire.text(msg.body.get("event"), "event") or ""
    properties = wire.attributes(msg.body.get("properties"), "properties")
    semantic = SEMANTIC_EVENTS.get(name)
    if semantic is not None:
        return semantic(msg, properties)
    return _event(msg, name, properties, "event", _event_renames("event", "properties"))


def _with_names(msg: _Message, properties: dict[str, Any]) -> dict[str, Any]:
    """Page and screen ``name`` and ``category`` are kept in the event's data (properties win)."""
    data = dict(properties)
    for key in ("name", "category"):
        value = msg.body.get(key)
        if value is not None and key not in data:
            data[key] = value
    return data


def _page(msg: _Message) -> Parsed:
    properties = wire.attributes(msg.body.get("properties"), "properties")
    page = msg.context.get("page")
    field, value = _first(
        ("properties.url", properties.get("url")),
        ("context.page.url", page.get("url") if isinstance(page, Mapping) else None),
        ("name", msg.body.get("name")),
    )
    if value is None:
        raise ValidationError("properties.url", "is required to name a page view (or name)")
    name = wire.text(value, field) or ""
    return _event(msg, name, _with_names(msg, properties), "page", _event_renames(field, "properties"))


def _screen(msg: _Message) -> Parsed:
    properties = wire.attributes(msg.body.get("properties"), "properties")
    field, value = _first(("name", msg.body.get("name")), ("properties.name", properties.get("name")))
    if value is None:
        raise ValidationError("name", "is required to name a screen view")
    name = wire.text(value, field) or ""
    return _event(msg, name, _with_names(msg, properties), "screen", _event_renames(field, "properties"))


# --- group -----------------------------------------------------------------------------------------


def _group(msg: _Message) -> Parsed:
    group_id = _ident(msg.body.get("groupId"), "groupId")
    if group_id is None:
        raise ValidationError("groupId", "is required")
    traits = wire.attributes(msg.body.get("traits"), "traits")
    type_field, type_value = _first(
        ("traits.objectTypeId", traits.pop("objectTypeId", None)),
        ("traits.object_type_id", traits.pop("object_type_id", None)),
        ("objectTypeId", msg.body.get("objectTypeId")),
    )
    object_type = wire.text(type_value, type_field, required=False) or DEFAULT_OBJECT_TYPE
    relationship: dict[str, Any] = {}
    relationship_field = "traits.relationshipAttributes"
    for field, value in (
        ("relationshipAttributes", msg.body.get("relationshipAttributes")),
        ("traits.relationship_attributes", traits.pop("relationship_attributes", None)),
        ("traits.relationshipAttributes", traits.pop("relationshipAttributes", None)),
    ):
        if value is not None:
            relationship.update(wire.attributes(value, field))
            relationship_field = field
    links: tuple[Link, ...] = ()
    if msg.user_id is not None:
        links = (Link(PersonRef("id", msg.user_id), relationship),)
    elif msg.anonymous_id is not None:
        links = (Link(Anonymous(msg.anonymous_id), relationship),)
    elif relationship:
        raise ValidationError("userId", "is required to relate the object (or anonymousId)")
    operation = IdentifyObject(ObjectRef(object_type, group_id), traits, msg.timestamp, links)
    renames = (
        ("identifiers.object_type_id", type_field),
        ("identifiers.object_id", "groupId"),
        ("identifiers", "groupId"),
        ("attributes", "traits"),
        ("cio_relationships[0].relationship_attributes", relationship_field),
        ("cio_relationships[0].identifiers.anonymous_id", "anonymousId"),
        ("cio_relationships[0].identifiers.id", "userId"),
        ("cio_relationships[0]", "userId"),
    )
    return Parsed("group", (operation,), renames)


# --- alias -----------------------------------------------------------------------------------------


def _alias(msg: _Message) -> Parsed:
    primary = msg.require_user("alias")
    previous = _ident(msg.body.get("previousId"), "previousId")
    if previous is None:
        raise ValidationError("previousId", "is required")
    if previous == primary.value:
        raise ValidationError("previousId", "must differ from userId")
    operations: tuple[Operation, ...] = (
        MergePeople(primary, PersonRef("id", previous)),
        # previousId is often the visitor's anonymousId: their anonymous activity carries over too.
        IdentifyPerson(primary, {}, timestamp=msg.timestamp, anonymous_id=previous),
    )
    renames = (
        ("primary.id", "userId"),
        ("primary", "userId"),
        ("secondary.id", "previousId"),
        ("secondary", "previousId"),
        ("identifiers.id", "userId"),
        ("identifiers", "userId"),
        ("anonymous_id", "previousId"),
    )
    return Parsed("alias", operations, renames)


# --- semantic events (track calls that act) --------------------------------------------------------


def _object_of(msg: _Message, properties: Mapping[str, Any]) -> tuple[ObjectRef, Renames]:
    id_field, id_value = _first(
        ("properties.objectId", properties.get("objectId")),
        ("properties.object_id", properties.get("object_id")),
        ("properties.groupId", properties.get("groupId")),
        ("context.groupId", msg.context.get("groupId")),
        ("groupId", msg.body.get("groupId")),
    )
    object_id = _ident(id_value, id_field)
    if object_id is None:
        raise ValidationError(id_field, "is required")
    type_field, type_value = _first(
        ("properties.objectTypeId", properties.get("objectTypeId")),
        ("properties.object_type_id", properties.get("object_type_id")),
    )
    object_type = wire.text(type_value, type_field, required=False) or DEFAULT_OBJECT_TYPE
    renames = (
        ("identifiers.object_type_id", type_field),
        ("identifiers.object_id", id_field),
        ("identifiers", id_field),
    )
    return ObjectRef(object_type, object_id), renames


def _relationship_deleted(msg: _Message, properties: Mapping[str, Any]) -> Parsed:
    msg.require_someone()
    obj, renames = _object_of(msg, properties)
    who: PersonRef | Anonymous = msg.person() or Anonymous(msg.anonymous_id or "")
    operation = ObjectLinks(obj, (Link(who),), remove=True)
    renames += (
        ("cio_relationships[0].identifiers.anonymous_id", "anonymousId"),
        ("cio_relationships[0].identifiers.id", "userId"),
        ("cio_relationships[0]", "userId"),
    )
    return Parsed("track", (operation,), renames)


def _object_deleted(msg: _Message, properties: Mapping[str, Any]) -> Parsed:
    obj, renames = _object_of(msg, properties)
    return Parsed("track", (DeleteObject(obj),), renames)


def _person_action(
    action: Callable[[PersonRef], Operation], what: str
) -> Callable[[_Message, Mapping[str, Any]], Parsed]:
    def parse_action(msg: _Message, _properties: Mapping[str, Any]) -> Parsed:
        operation = action(msg.require_user(what))
        return Parsed("track", (operation,), (("identifiers.id", "userId"), ("identifiers", "userId")))

    return parse_action


_DEVICE_KEYS = ("token", "id", "type", "platform")


def _device(msg: _Message, properties: Mapping[str, Any]) -> tuple[str, str | None, dict[str, Any], Renames]:
    """(token, platform, other device attributes, renames) from ``properties.device``, ``context.device``
    or flat ``properties.device_token`` / ``properties.token``."""
    device_field, device = "properties.device", properties.get("device")
    if not isinstance(device, Mapping):
        device_field, device = "context.device", msg.context.get("device")
    if not isinstance(device, Mapping):
        device_field, device = "properties.device", {}
    token_field, token_value = _first(
        (f"{device_field}.token", device.get("token")),
        ("properties.device_token", properties.get("device_token")),
        ("properties.token", properties.get("token")),
    )
    token = _ident(token_value, token_field)
    if token is None:
        raise ValidationError(token_field, "is required")
    platform_field, platform_value = _first(
        (f"{device_field}.type", device.get("type")),
        (f"{device_field}.platform", device.get("platform")),
        ("properties.device_type", properties.get("device_type")),
        ("properties.platform", properties.get("platform")),
    )
    platform = wire.text(platform_value, platform_field, required=False)
    attributes = {k: v for k, v in device.items() if k not in _DEVICE_KEYS}
    renames = (
        ("device.token", token_field),
        ("device.attributes", device_field),
        ("identifiers.id", "userId"),
        ("identifiers", "userId"),
    )
    return token, platform, attributes, renames


def _device_updated(msg: _Message, properties: Mapping[str, Any]) -> Parsed:
    person = msg.require_user("Device Created or Updated")
    token, platform, attributes, renames = _device(msg, properties)
    operation = AddDevice(person, token, platform, msg.timestamp, attributes)
    return Parsed("track", (operation,), renames)


def _device_deleted(msg: _Message, properties: Mapping[str, Any]) -> Parsed:
    person = msg.require_user("Device Deleted")
    token, _platform, _attributes, renames = _device(msg, properties)
    return Parsed("track", (DeleteDevice(person, token),), renames)


def _recorded(msg: _Message, properties: Mapping[str, Any]) -> Parsed:
    """Delivery metrics (SPEC §3.4) come later: until then the event is recorded as it is."""
    return _event(msg, "Report Delivery Event", properties, "event", _event_renames("event", "properties"))


SEMANTIC_EVENTS: dict[str, Callable[[_Message, Mapping[str, Any]], Parsed]] = {
    "Relationship Deleted": _relationship_deleted,
    "Object Deleted": _object_deleted,
    "User Deleted": _person_action(DeletePerson, "User Deleted"),
    "User Suppressed": _person_action(SuppressPerson, "User Suppressed"),
    "User Unsuppressed": _person_action(UnsuppressPerson, "User Unsuppressed"),
    "Device Created or Updated": _device_updated,
    "Device Deleted": _device_deleted,
    "Report Delivery Event": _recorded,
}

_PARSERS: dict[str, Callable[[_Message], Parsed]] = {
    "identify": _identify,
    "track": _track,
    "page": _page,
    "screen": _screen,
    "group": _group,
    "alias": _alias,
}
