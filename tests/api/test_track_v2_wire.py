"""Envelope parsing alone (no database): what each Track v2 envelope becomes."""

from __future__ import annotations

import pytest

from relata.api.track_v2_wire import parse_batch, parse_operation
from relata.core.errors import ValidationError
from relata.core.identity import ObjectRef, PersonRef
from relata.core.limits import Limits
from relata.core.operations import (
    AddDevice,
    Anonymous,
    IdentifyObject,
    IdentifyPerson,
    Link,
    MergePeople,
    ObjectLinks,
    TrackEvent,
)

LIMITS = Limits()


def test_identify_person_takes_out_reserved_attributes() -> None:
    op = parse_operation(
        {
            "type": "person",
            "action": "identify",
            "identifiers": {"email": "a@x.io"},
            "attributes": {
                "plan": "pro",
                "id": "u1",
                "anonymous_id": "anon",
                "created_at": 1_700_000_000,
                "_update": True,
                "_timestamp": 5,
            },
            "cio_relationships": [{"identifiers": {"object_type_id": "1", "object_id": "c"}}],
        },
        LIMITS,
    )
    assert op == IdentifyPerson(
        PersonRef("email", "a@x.io"),
        {"plan": "pro", "id": "u1"},
        timestamp=5000,
        anonymous_id="anon",
        update_only=True,
        links=(Link(ObjectRef("1", "c")),),
        created_at=1_700_000_000_000,
    )


def test_events_for_people_and_anonymous_visitors() -> None:
    envelope = {
        "type": "person",
        "action": "screen",
        "name": "Home",
        "id": "e1",
        "timestamp": "1970-01-01T00:00:01Z",
    }
    op = parse_operation({**envelope, "identifiers": {"anonymous_id": "a1"}, "attributes": {"x": 1}}, LIMITS)
    assert op == TrackEvent(None, "a1", "Home", {"x": 1}, type="screen", timestamp=1000, dedupe_id="e1")
    op = parse_operation({**envelope, "identifiers": {"cio_id": "abc"}}, LIMITS)
    assert isinstance(op, TrackEvent) and op.person == PersonRef("cio_id", "abc")


def test_object_operations_and_their_links() -> None:
    links = [
        {"identifiers": {"id": "u1"}, "relationship_attributes": {"role": "owner"}},
        {"identifiers": {"anonymous_id": "a1"}},
        {"identifiers": {"object_type_id": "2", "object_id": "item"}},
    ]
    op = parse_operation(
        {
            "type": "object",
            "action": "identify_anonymous",
            "identifiers": {"object_type_id": "cart", "object_id": "c"},
        }
        | {"cio_relationships": links, "timestamp": 2},
        LIMITS,
    )
    assert op == IdentifyObject(
        ObjectRef("cart", "c"),
        {},
        2000,
        (Link(PersonRef("id", "u1"), {"role": "owner"}), Link(Anonymous("a1")), Link(ObjectRef("2", "item"))),
    )
    op = parse_operation(
        {"type": "object", "action": "delete_relationships", "identifiers": {"cio_object_id": "x"}}
        | {"cio_relationships": links[2:]},
        LIMITS,
    )
    assert op == ObjectLinks(ObjectRef(None, None, "x"), (Link(ObjectRef("2", "item")),), remove=True)


def test_devices_and_merge() -> None:
    op = parse_operation(
        {"type": "person", "action": "add_device", "identifiers": {"id": 7}}
        | {"device": {"id": "tok", "platform": "ios", "last_used": 3, "attributes": {"v": 1}}},
        LIMITS,
    )
    assert op == AddDevice(PersonRef("id", "7"), "tok", "ios", 3000, {"v": 1})
    op = parse_operation(
        {"type": "person", "action": "merge", "primary": {"id": "a"}, "secondary": {"email": "b@x.io"}},
        LIMITS,
    )
    assert op == MergePeople(PersonRef("id", "a"), PersonRef("email", "b@x.io"))


@pytest.mark.parametrize(
    ("envelope", "path", "reason"),
    [
        ({"type": "delivery", "action": "event"}, "type", "unsupported"),
        ({"type": "object", "action": "event"}, "action", "invalid"),
        (
            {
                "type": "person",
                "action": "event",
                "identifiers": {"id": "u"},
                "name": "n",
                "timestamp": 10**16,
            },
            "timestamp",
            "invalid",
        ),
        (
            {
                "type": "person",
                "action": "identify",
                "identifiers": {"id": "u"},
                "attributes": {"email": "a@" + "x" * 200},
            },
            "attributes.email",
            "too_large",
        ),
    ],
)
def test_errors_name_the_field(envelope: object, path: str, reason: str) -> None:
    with pytest.raises(ValidationError) as raised:
        parse_operation(envelope, LIMITS)
    assert (raised.value.path, raised.value.reason) == (path, reason)


def test_parse_batch_keeps_the_index_of_every_operation() -> None:
    good = {"type": "person", "action": "delete", "identifiers": {"id": "u"}}
    parsed = parse_batch([good, {"type": "x"}, good, "junk", good], LIMITS)
    assert parsed.indexes == [0, 2, 4]
    assert len(parsed.operations) == 3
    assert [(index, error.path) for index, error in parsed.errors] == [(1, "type"), (3, "")]
