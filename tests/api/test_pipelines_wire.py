"""Parsing one Pipelines message into core operations (pure: no database)."""

from __future__ import annotations

import pytest

from relata.api.pipelines_wire import Parsed, merge_context, parse
from relata.core.errors import ValidationError
from relata.core.identity import ObjectRef, PersonRef
from relata.core.operations import (
    AddDevice,
    Anonymous,
    DeleteObject,
    IdentifyObject,
    IdentifyPerson,
    Link,
    MergePeople,
    ObjectLinks,
    TrackEvent,
)


def test_identify() -> None:
    parsed = parse(
        {"userId": 7, "anonymousId": "a", "timestamp": 1_700_000_000, "traits": {"email": "x@y.z", "n": 1}},
        "identify",
    )
    assert parsed.operations == (
        IdentifyPerson(
            PersonRef("id", "7"), {"email": "x@y.z", "n": 1}, timestamp=1_700_000_000_000, anonymous_id="a"
        ),
    )


def test_anonymous_identify_is_an_anonymous_event() -> None:
    parsed = parse({"anonymousId": "a", "traits": {"n": 1}, "messageId": "m"}, "identify")
    assert parsed.operations == (TrackEvent(None, "a", "identify", {"n": 1}, "event", None, "m"),)
    assert parsed.kind == "identify"


def test_track_reads_the_type_from_the_message_in_a_batch() -> None:
    parsed = parse({"type": "track", "userId": "u", "event": "e", "properties": {"p": 1}, "messageId": "m"})
    assert parsed.operations == (TrackEvent(PersonRef("id", "u"), None, "e", {"p": 1}, "event", None, "m"),)


def test_original_timestamp_is_the_fallback() -> None:
    parsed = parse({"userId": "u", "event": "e", "originalTimestamp": "2026-01-01T00:00:00Z"}, "track")
    assert isinstance(parsed.operations[0], TrackEvent)
    assert parsed.operations[0].timestamp == 1_767_225_600_000


def test_group_strips_type_and_relationship_traits() -> None:
    parsed = parse(
        {
            "anonymousId": "a",
            "groupId": "g",
            "traits": {
                "objectTypeId": "2",
                "object_type_id": "9",
                "relationshipAttributes": {"r": 1},
                "x": 1,
            },
        },
        "group",
    )
    assert parsed.operations == (
        IdentifyObject(ObjectRef("2", "g"), {"x": 1}, None, (Link(Anonymous("a"), {"r": 1}),)),
    )


def test_alias_merges_and_adopts() -> None:
    parsed = parse({"userId": "new", "previousId": "old"}, "alias")
    assert parsed.operations == (
        MergePeople(PersonRef("id", "new"), PersonRef("id", "old")),
        IdentifyPerson(PersonRef("id", "new"), {}, anonymous_id="old"),
    )


def test_semantic_events() -> None:
    deleted = parse({"userId": "u", "event": "Object Deleted", "properties": {"objectId": "o"}}, "track")
    assert deleted.operations == (DeleteObject(ObjectRef("1", "o")),)
    unlinked = parse(
        {
            "userId": "u",
            "event": "Relationship Deleted",
            "context": {"groupId": "o"},
            "properties": {"objectTypeId": 4},
        },
        "track",
    )
    assert unlinked.operations == (
        ObjectLinks(ObjectRef("4", "o"), (Link(PersonRef("id", "u")),), remove=True),
    )
    device = parse(
        {
            "userId": "u",
            "event": "Device Created or Updated",
            "context": {"device": {"token": "t", "type": "ios"}},
        },
        "track",
    )
    assert device.operations == (AddDevice(PersonRef("id", "u"), "t", "ios", None, {}),)


def test_semantic_names_are_exact() -> None:
    parsed = parse({"userId": "u", "event": "user deleted"}, "track")
    assert parsed.operations == (
        TrackEvent(PersonRef("id", "u"), None, "user deleted", {}, "event", None, None),
    )


def test_error_paths_read_in_the_message_terms() -> None:
    group = parse({"userId": "u", "groupId": "g", "traits": {"object_type_id": "x"}}, "group")
    assert group.field("identifiers.object_type_id") == "traits.object_type_id"
    assert group.field("identifiers.object_id") == "groupId"
    assert group.field("attributes.name") == "traits.name"
    assert group.field("cio_relationships[0].relationship_attributes.r") == "traits.relationshipAttributes.r"
    assert group.field("cio_relationships[0].identifiers.id") == "userId"
    assert group.field("attributes.total") == "traits.total"
    track = parse({"userId": "u", "event": "e"}, "track")
    assert [track.field(p) for p in ("name", "data", "id", "identifiers.id", "other")] == [
        "event",
        "properties",
        "messageId",
        "userId",
        "other",
    ]
    assert Parsed("x", ()).field("attributes") == "attributes"


def test_merge_context_is_deep_and_the_message_wins() -> None:
    base = {"device": {"token": "t", "type": "ios"}, "ip": "1.2.3.4"}
    own = {"device": {"type": "android"}, "locale": "en"}
    assert merge_context(base, own) == {
        "device": {"token": "t", "type": "android"},
        "ip": "1.2.3.4",
        "locale": "en",
    }
    assert base == {"device": {"token": "t", "type": "ios"}, "ip": "1.2.3.4"}


@pytest.mark.parametrize(
    ("message", "kind", "field"),
    [
        ({}, None, "type"),
        ({"type": "Track"}, None, "type"),
        ({"userId": "u", "event": "e", "context": {"x": "\u0000"}}, "track", "context.x"),
        ({"userId": "u", "event": "e", "timestamp": "9999999999999999"}, "track", "timestamp"),
        ({"userId": "u", "groupId": "g", "relationshipAttributes": []}, "group", "relationshipAttributes"),
    ],
)
def test_parse_errors(message: dict[str, object], kind: str | None, field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        parse(message, kind)
    assert raised.value.path == field
