"""Track API v2 operation envelopes -> core operations (SPEC §3.2).

Pure and cheap: no I/O. ``parse_operation`` turns one envelope into one ``Operation`` or raises a
``ValidationError`` whose path is relative to the operation (``identifiers.id``, ``attributes.email``);
``parse_batch`` parses a whole ``batch`` list, keeping the index of every operation so the errors the
service reports can be given back at the right ``batch_index``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from relata.api import wire
from relata.core.errors import ValidationError
from relata.core.identity import (
    ObjectRef,
    PersonRef,
    object_ref_from_identifiers,
    person_ref_from_identifiers,
)
from relata.core.limits import Limits
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
    PersonLinks,
    SuppressPerson,
    TrackEvent,
    UnsuppressPerson,
)
from relata.core.times import Millis

TYPES = ("person", "object", "delivery")
MAX_DEPTH = 64
"""How deeply JSON may nest inside one operation (envelope included)."""
MAX_TIMESTAMP: Millis = 253_402_300_799_999
"""9999-12-31T23:59:59.999Z: later instants are not dates any store can keep."""
DEVICE_TOKEN_BYTES = 500
DEVICE_PLATFORM_BYTES = 32
TYPE_ID_DIGITS = 32

Parser = Callable[[Mapping[str, Any], Limits], Operation]


# --- shared pieces ------------------------------------------------------------------------------


def _timestamp(value: Any, path: str) -> Millis | None:
    ms = wire.timestamp(value, path)
    if ms is not None and ms > MAX_TIMESTAMP:
        raise ValidationError(path, "is after the year 9999")
    return ms


def _person(env: Mapping[str, Any], key: str = "identifiers") -> PersonRef:
    return person_ref_from_identifiers(env.get(key), key)


def _object(env: Mapping[str, Any]) -> ObjectRef:
    ref = object_ref_from_identifiers(env.get("identifiers"), "identifiers")
    _check_type_ref(ref, "identifiers")
    return ref


def _check_type_ref(ref: ObjectRef, path: str) -> None:
    """Object type references the store can hold: a numeric id of at most 32 digits or a short name."""
    if ref.type is None:
        return
    if ref.type.isdigit() and len(ref.type) > TYPE_ID_DIGITS:
        raise ValidationError(
            f"{path}.object_type_id", f"a numeric type id has at most {TYPE_ID_DIGITS} digits", "too_large"
        )
    if len(ref.type) > 100:
        raise ValidationError(f"{path}.object_type_id", "is longer than 100 characters", "too_large")


def _links(env: Mapping[str, Any], limits: Limits) -> tuple[Link, ...]:
    found = wire.links(env.get("cio_relationships"), "cio_relationships")
    for index, link in enumerate(found):
        here = f"cio_relationships[{index}].identifiers"
        if isinstance(link.target, ObjectRef):
            _check_type_ref(link.target, here)
        elif isinstance(link.target, Anonymous):
            limits.check_identifier(link.target.anonymous_id, f"{here}.anonymous_id")
    return found


def _attributes(env: Mapping[str, Any]) -> dict[str, Any]:
    return wire.attributes(env.get("attributes"), "attributes")


def _operation_time(env: Mapping[str, Any], attributes: dict[str, Any]) -> Millis | None:
    """The envelope's ``timestamp``, else the v1-style reserved ``_timestamp`` attribute."""
    legacy = attributes.pop("_timestamp", None)
    stamp = _timestamp(env.get("timestamp"), "timestamp")
    if stamp is None:
        stamp = _timestamp(legacy, "attributes._timestamp")
    return stamp


# --- people -------------------------------------------------------------------------------------


def _identify_person(env: Mapping[str, Any], limits: Limits) -> Operation:
    person = _person(env)
    attributes = _attributes(env)
    timestamp = _operation_time(env, attributes)
    update_only = attributes.pop("_update", False)
    if update_only is None:
        update_only = False
    if not isinstance(update_only, bool):
        raise ValidationError("attributes._update", "must be true or false")
    anonymous_id = wire.text(attributes.pop("anonymous_id", None), "attributes.anonymous_id", required=False)
    if anonymous_id is not None:
        limits.check_identifier(anonymous_id, "attributes.anonymous_id")
    created_at = _timestamp(attributes.pop("created_at", None), "attributes.created_at")
    email = attributes.get("email")
    if isinstance(email, str):
        limits.check_identifier(email, "attributes.email")
    return IdentifyPerson(
        person,
        attributes,
        timestamp=timestamp,
        anonymous_id=anonymous_id,
        update_only=update_only,
        links=_links(env, limits),
        created_at=created_at,
    )


def _event(kind: EventType) -> Parser:
    def parse(env: Mapping[str, Any], limits: Limits) -> Operation:
        identifiers = env.get("identifiers")
        person: PersonRef | None = None
        anonymous_id: str | None = None
        if isinstance(identifiers, Mapping) and set(identifiers) == {"anonymous_id"}:
            anonymous_id = wire.text(identifiers["anonymous_id"], "identifiers.anonymous_id")
            assert anonymous_id is not None
            limits.check_identifier(anonymous_id, "identifiers.anonymous_id")
        else:
            person = _person(env)
        name = wire.text(env.get("name"), "name")
        assert name is not None
        if not name.strip():
            raise ValidationError("name", "must not be empty")
        limits.check_event_name(name, "name")
        data = _attributes(env)
        limits.check_event_data(data, "attributes")
        dedupe_id = wire.text(env.get("id"), "id", required=False)
        if dedupe_id is not None:
            limits.check_identifier(dedupe_id, "id")
        return TrackEvent(
            person,
            anonymous_id,
            name,
            data,
            type=kind,
            timestamp=_timestamp(env.get("timestamp"), "timestamp"),
            dedupe_id=dedupe_id,
        )

    return parse


def _person_links(remove: bool) -> Parser:
    def parse(env: Mapping[str, Any], limits: Limits) -> Operation:
        return PersonLinks(
            _person(env), _links(env, limits), remove, _timestamp(env.get("timestamp"), "timestamp")
        )

    return parse


def _device(env: Mapping[str, Any]) -> tuple[Mapping[str, Any], str]:
    device = env.get("device")
    if not isinstance(device, Mapping):
        raise ValidationError("device", 'must be an object with a "token"')
    raw = device.get("token")
    path = "device.token"
    if raw is None and device.get("id") is not None:
        raw, path = device.get("id"), "device.id"
    token = wire.text(raw, path)
    assert token is not None
    if not token.strip():
        raise ValidationError(path, "must not be empty")
    if len(token.encode()) > DEVICE_TOKEN_BYTES:
        raise ValidationError(path, f"is longer than {DEVICE_TOKEN_BYTES} bytes", "too_large")
    return device, token


def _add_device(env: Mapping[str, Any], limits: Limits) -> Operation:
    person = _person(env)
    device, token = _device(env)
    platform = wire.text(device.get("platform"), "device.platform", required=False)
    if platform is not None and len(platform.encode()) > DEVICE_PLATFORM_BYTES:
        raise ValidationError("device.platform", f"is longer than {DEVICE_PLATFORM_BYTES} bytes", "too_large")
    return AddDevice(
        person,
        token,
        platform=platform,
        last_used=_timestamp(device.get("last_used"), "device.last_used"),
        attributes=wire.attributes(device.get("attributes"), "device.attributes"),
    )


def _delete_device(env: Mapping[str, Any], limits: Limits) -> Operation:
    return DeleteDevice(_person(env), _device(env)[1])


def _merge(env: Mapping[str, Any], limits: Limits) -> Operation:
    return MergePeople(_person(env, "primary"), _person(env, "secondary"))


PERSON_ACTIONS: dict[str, Parser] = {
    "identify": _identify_person,
    "delete": lambda env, limits: DeletePerson(_person(env)),
    "event": _event("event"),
    "page": _event("page"),
    "screen": _event("screen"),
    "add_relationships": _person_links(remove=False),
    "delete_relationships": _person_links(remove=True),
    "add_device": _add_device,
    "delete_device": _delete_device,
    "merge": _merge,
    "suppress": lambda env, limits: SuppressPerson(_person(env)),
    "unsuppress": lambda env, limits: UnsuppressPerson(_person(env)),
}


# --- objects ------------------------------------------------------------------------------------


def _identify_object(env: Mapping[str, Any], limits: Limits) -> Operation:
    ref = _object(env)
    attributes = _attributes(env)
    timestamp = _operation_time(env, attributes)
    return IdentifyObject(ref, attributes, timestamp, _links(env, limits))


def _object_links(remove: bool) -> Parser:
    def parse(env: Mapping[str, Any], limits: Limits) -> Operation:
        return ObjectLinks(
            _object(env), _links(env, limits), remove, _timestamp(env.get("timestamp"), "timestamp")
        )

    return parse


OBJECT_ACTIONS: dict[str, Parser] = {
    "identify": _identify_object,
    "identify_anonymous": _identify_object,
    "delete": lambda env, limits: DeleteObject(_object(env)),
    "add_relationships": _object_links(remove=False),
    "delete_relationships": _object_links(remove=True),
}

ACTIONS: dict[str, dict[str, Parser]] = {"person": PERSON_ACTIONS, "object": OBJECT_ACTIONS}


# --- envelopes ----------------------------------------------------------------------------------


def parse_operation(envelope: Any, limits: Limits) -> Operation:
    """One envelope -> one operation; the error's path is relative to the envelope."""
    if not isinstance(envelope, Mapping):
        raise ValidationError("", "an operation must be a JSON object with type and action")
    kind = envelope.get("type")
    if kind is None:
        raise ValidationError("type", 'is required: "person", "object" or "delivery"')
    if not isinstance(kind, str) or kind not in TYPES:
        raise ValidationError("type", f'must be "person", "object" or "delivery" (got {kind!r:.60})')
    if kind == "delivery":
        raise ValidationError(
            "type", "delivery operations (message metrics) are not supported yet", "unsupported"
        )
    actions = ACTIONS[kind]
    action = envelope.get("action")
    if action is None:
        raise ValidationError("action", f"is required; a {kind} takes one of {', '.join(actions)}")
    parser = actions.get(action) if isinstance(action, str) else None
    if parser is None:
        raise ValidationError(
            "action", f"unknown {kind} action {action!r:.60}; use one of {', '.join(actions)}"
        )
    return parser(envelope, limits)


def check_json(item: Any, limit: int) -> None:
    """The size of one operation as compact JSON, no NUL characters, and bounded nesting."""
    try:
        encoded = orjson.dumps(item)
    except orjson.JSONEncodeError:  # nested deeper than orjson writes (255 levels)
        raise _find_problem(item, "", 1) or ValidationError("", "cannot be encoded as JSON") from None
    if len(encoded) > limit:
        raise ValidationError("", f"operation is larger than {limit} bytes", "too_large")
    if b"\\u0000" in encoded or encoded.count(b"[") + encoded.count(b"{") > MAX_DEPTH:
        problem = _find_problem(item, "", 1)
        if problem is not None:
            raise problem


def _find_problem(value: Any, path: str, depth: int) -> ValidationError | None:
    """The first NUL character or over-deep nesting in ``value``, with its path."""
    if isinstance(value, str):
        return ValidationError(path, "must not contain NUL (\\u0000) characters") if "\x00" in value else None
    if not isinstance(value, dict | list):
        return None
    if depth > MAX_DEPTH:
        return ValidationError(path, f"nests deeper than {MAX_DEPTH} levels")
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, child in items:
        if isinstance(key, str):
            if "\x00" in key:
                return ValidationError(path, "names must not contain NUL (\\u0000) characters")
            here = f"{path}.{key}" if path else key
        else:
            here = f"{path}[{key}]"
        found = _find_problem(child, here, depth + 1)
        if found is not None:
            return found
    return None


@dataclass
class ParsedBatch:
    """The valid operations of a batch, the batch index of each, and the errors of the rest."""

    operations: list[Operation] = field(default_factory=list)
    indexes: list[int] = field(default_factory=list)
    errors: list[tuple[int, ValidationError]] = field(default_factory=list)


def parse_batch(items: list[Any], limits: Limits) -> ParsedBatch:
    parsed = ParsedBatch()
    for index, item in enumerate(items):
        try:
            check_json(item, limits.batch_operation_bytes)
            operation = parse_operation(item, limits)
        except ValidationError as error:
            parsed.errors.append((index, error))
        else:
            parsed.operations.append(operation)
            parsed.indexes.append(index)
    return parsed
