"""Track API v1 payloads (SPEC §3.1) turned into write operations.

Pure parsing: every function takes the decoded JSON and returns operations, or raises ``ValidationError``
naming the field as the client sent it (``identifier``, ``_timestamp``, ``device.platform`` …).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from relata.api import wire
from relata.core.errors import ValidationError
from relata.core.identity import PersonRef, person_ref_from_identifiers, person_ref_from_path
from relata.core.limits import Limits
from relata.core.operations import (
    AddDevice,
    EventType,
    IdentifyPerson,
    MergePeople,
    Operation,
    PersonLinks,
    TrackEvent,
)
from relata.core.times import Millis

# Keys of an identify body that steer the write instead of becoming attributes. ``id`` and ``email`` stay
# in the attributes: the write path reads them from there (a new id, an email change).
IDENTIFY_CONTROL = frozenset({"anonymous_id", "created_at", "_timestamp", "_update", "cio_relationships"})
EVENT_TYPES: tuple[EventType, ...] = ("event", "page", "screen")
DEVICE_FIELDS = frozenset({"id", "token", "platform", "last_used", "attributes"})


def person(identifier: str, limits: Limits, path: str = "identifier") -> PersonRef:
    """The person a path segment names: an email (contains ``@``), ``cio_<cio_id>``, or an id."""
    if "\x00" in identifier:
        raise ValidationError(path, "must not contain NUL characters")
    ref = person_ref_from_path(identifier, path)
    limits.check_identifier(ref.value, path)
    return ref


def _flag(value: Any, path: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ValidationError(path, "must be true or false")
    return value


def _anonymous_id(value: Any, limits: Limits) -> str | None:
    found = wire.text(value, "anonymous_id", required=False)
    if found is not None:
        limits.check_identifier(found, "anonymous_id")
    return found


def identify(ref: PersonRef, body: Mapping[str, Any], limits: Limits) -> list[Operation]:
    """``PUT /api/v1/customers/{identifier}``: the identify, then relationship removals if asked for."""
    attributes = {name: value for name, value in body.items() if name not in IDENTIFY_CONTROL}
    created_raw = body.get("created_at")
    created_at: Millis | None = None
    if created_raw is None or created_raw == "":
        if "created_at" in body:
            attributes["created_at"] = None  # removal, like any other attribute
    else:
        created_at = wire.timestamp(created_raw, "created_at")
    timestamp = wire.timestamp(body.get("_timestamp"), "_timestamp")
    links, remove = wire.cio_relationships(body.get("cio_relationships"), "cio_relationships")
    operations: list[Operation] = [
        IdentifyPerson(
            ref,
            attributes,
            timestamp=timestamp,
            anonymous_id=_anonymous_id(body.get("anonymous_id"), limits),
            update_only=_flag(body.get("_update"), "_update"),
            links=() if remove else links,
            created_at=created_at,
        )
    ]
    if remove and links:
        operations.append(PersonLinks(ref, links, remove=True, timestamp=timestamp))
    return operations


def _event_type(value: Any) -> EventType:
    if value is None or value == "":
        return "event"
    if value not in EVENT_TYPES:
        raise ValidationError("type", 'must be "event", "page" or "screen"')
    return cast(EventType, value)


def event(ref: PersonRef | None, body: Mapping[str, Any], limits: Limits) -> TrackEvent:
    """``POST /api/v1/customers/{identifier}/events`` (``ref``) and ``POST /api/v1/events`` (``None``)."""
    # Customer.io trims event names (workspaces since 2021): " viewed " is the event "viewed".
    name = (wire.text(body.get("name"), "name") or "").strip()
    data = wire.attributes(body.get("data"), "data")
    dedupe_id = wire.text(body.get("id"), "id", required=False)
    anonymous_id = None
    if ref is None:
        anonymous_id = _anonymous_id(body.get("anonymous_id"), limits)
        if anonymous_id is None and data.get("recipient") in (None, ""):
            raise ValidationError(
                "anonymous_id", "is required (an event without one must name data.recipient: an invite event)"
            )
    return TrackEvent(
        ref,
        anonymous_id,
        name,
        data,
        type=_event_type(body.get("type")),
        timestamp=wire.timestamp(body.get("timestamp"), "timestamp"),
        dedupe_id=dedupe_id,
    )


def device(ref: PersonRef, body: Mapping[str, Any], limits: Limits, now: Millis) -> AddDevice:
    """``PUT /api/v1/customers/{identifier}/devices`` with ``{"device": {"id", "platform", …}}``.

    ``last_used`` defaults to the time of the request (as Customer.io does). Keys of ``device`` other than
    ``id``, ``platform``, ``last_used`` and ``attributes`` are kept as device attributes, so the official
    client's ``add_device(..., **data)`` loses nothing; ``attributes`` wins where both name a key.
    """
    found = body.get("device")
    if not isinstance(found, Mapping):
        raise ValidationError("device", "is required: an object with id and platform")
    token = wire.text(found.get("id", found.get("token")), "device.id") or ""
    device_token(token, limits, "device.id")
    platform = wire.text(found.get("platform"), "device.platform") or ""
    if len(platform.encode()) > limits.identifier_bytes:
        raise ValidationError(
            "device.platform", f"is longer than {limits.identifier_bytes} bytes", "too_large"
        )
    last_used = wire.timestamp(found.get("last_used"), "device.last_used")
    extra = {name: value for name, value in found.items() if name not in DEVICE_FIELDS}
    attributes = {**extra, **wire.attributes(found.get("attributes"), "device.attributes")}
    return AddDevice(ref, token, platform, now if last_used is None else last_used, attributes)


def device_token(token: str, limits: Limits, path: str) -> str:
    """A push token: non-blank, no NUL, at most ``attribute_value_bytes`` (FCM tokens exceed 150 bytes)."""
    if not token.strip():
        raise ValidationError(path, "must not be empty")
    if "\x00" in token:
        raise ValidationError(path, "must not contain NUL characters")
    if len(token.encode()) > limits.attribute_value_bytes:
        raise ValidationError(path, f"is longer than {limits.attribute_value_bytes} bytes", "too_large")
    return token


def merge(body: Mapping[str, Any], limits: Limits) -> MergePeople:
    """``POST /api/v1/merge_customers``: ``{"primary": {id|email|cio_id}, "secondary": {...}}``."""
    refs = []
    for side in ("primary", "secondary"):
        ref = person_ref_from_identifiers(body.get(side), side)
        limits.check_identifier(ref.value, f"{side}.{ref.kind}")
        refs.append(ref)
    return MergePeople(refs[0], refs[1])
