"""Track v2 person actions end to end over HTTP, on both stores; state read through the storage modules."""

from __future__ import annotations

from fastapi.testclient import TestClient
from test_track_v2_support import (
    batch,
    entity,
    errors_of,
    events,
    history_ops,
    ok,
    person,
    person_links,
    person_op,
    rel,
    the_object,
    the_person,
)

from relata.bootstrap import Runtime
from relata.core.clock import FakeClock
from relata.storage import activity, people
from relata.storage.links import ANONYMOUS_LINKS
from relata.storage.workspaces import Credentials

Auth = tuple[str, str]


def test_identify_creates_then_merges_attributes(
    client: TestClient, track_auth: Auth, runtime: Runtime, workspace: Credentials
) -> None:
    ws = workspace.workspace.id
    ok(client, track_auth, person_op("identify", attributes={"email": "Ann@Example.com", "plan": "free"}))
    ok(client, track_auth, person_op("identify", attributes={"plan": "pro", "vip": True}))
    ann = the_person(runtime, ws, "u1")
    assert ann.email == "Ann@Example.com"
    assert ann.attributes["plan"] == "pro"
    assert ann.attributes["vip"] is True
    assert person(runtime, ws, "email", "ann@example.com") == ann
    assert history_ops(runtime, ws, person_pk=ann.pk) == ["create", "update", "update"]


def test_identify_by_email_and_by_cio_id(
    client: TestClient, track_auth: Auth, runtime: Runtime, workspace: Credentials
) -> None:
    ws = workspace.workspace.id
    ok(client, track_auth, {**person_op("identify"), "identifiers": {"email": "lead@example.com"}})
    lead = person(runtime, ws, "email", "lead@example.com")
    assert lead is not None and lead.id is None
    # A cio_id names the person; attributes.id gives them an id.
    ok(
        client,
        track_auth,
        {**person_op("identify", attributes={"id": "u9", "x": 1}), "identifiers": {"cio_id": lead.cio_id}},
    )
    now = the_person(runtime, ws, "u9")
    assert now.pk == lead.pk
    assert now.attributes["x"] == 1


def test_null_and_empty_remove_attributes(
    client: TestClient, track_auth: Auth, runtime: Runtime, workspace: Credentials
) -> None:
    ws = workspace.workspace.id
    ok(client, track_auth, person_op("identify", attributes={"a": 1, "b": 2, "c": 3}))
    ok(client, track_auth, person_op("identify", attributes={"a": None, "b": ""}))
    assert the_person(runtime, ws, "u1").attributes == {"c": 3, "created_at": 1_767_225_600}


def test_out_of_order_timestamps_do_not_overwrite_newer_values(
    client: TestClient, track_auth: Auth, runtime: Runtime, workspace: Credentials
) -> None:
    ws = workspace.workspace.id
    ok(client, track_auth, person_op("identify", timestamp=2000, attributes={"plan": "pro", "seen": 2}))
    # Older operation arrives later: ignored for the attributes it shares, applied for new ones.
    ok(client, track_auth, person_op("identify", timestamp=1000, attributes={"plan": "free", "region": "eu"}))
    ann = the_person(runtime, ws, "u1")
    assert ann.attributes["plan"] == "pro"
    assert ann.attributes["region"] == "eu"
    assert ann.stamps["plan"] == 2_000_000
    # ISO-8601 and the v1-style reserved _timestamp work too; the envelope's timestamp wins over it.
    ok(client, track_auth, person_op("identify", timestamp="1970-01-01T00:50:00Z", attributes={"plan": "x"}))
    ok(client, track_auth, person_op("identify", attributes={"plan": "old", "_timestamp": 1500}))
    ok(
        client,
        track_auth,
        person_op("identify", timestamp=1000, attributes={"plan": "older", "_timestamp": 9999}),
    )
    ann = the_person(runtime, ws, "u1")
    assert ann.attributes["plan"] == "x"
    assert "_timestamp" not in ann.attributes


def test_reserved_attributes(
    client: TestClient, track_auth: Auth, runtime: Runtime, workspace: Credentials, clock: FakeClock
) -> None:
    ws = workspace.workspace.id
    # _update: only update a person who exists.
    ok(client, track_auth, person_op("identify", "ghost", attributes={"_update": True, "a": 1}))
    assert person(runtime, ws, "id", "ghost") is None
    ok(client, track_auth, person_op("identify"))
    clock.advance(1)
    ok(client, track_auth, person_op("identify", attributes={"_update": True, "a": 1}))
    ok(client, track_auth, person_op("identify", attributes={"created_at": "2025-06-01T00:00:00Z"}))
    ann = the_person(runtime, ws, "u1")
    assert ann.attributes["a"] == 1
    assert ann.attributes["created_at"] == 1_748_736_000  # stored as unix seconds, as Customer.io does
    assert "_update" not in ann.attributes


def test_created_at_in_the_creating_identify(
    client: TestClient, track_auth: Auth, runtime: Runtime, workspace: Credentials
) -> None:
    ok(client, track_auth, person_op("identify", attributes={"created_at": "2025-06-01T00:00:00Z"}))
    assert the_person(runtime, workspace.workspace.id, "u1").attributes["created_at"] == 1_748_736_000


def test_anonymous_activity_carries_over_on_identify(
    client: TestClient, track_auth: Auth, runtime: Runtime, workspace: Credentials
) -> None:
    ws = workspace.workspace.id
    anon = {"anonymous_id": "anon-1"}
    ok(
        client,
        track_auth,
        {"type": "person", "action": "page", "identifiers": anon, "name": "https://shop.test/p/1"},
        {
            "type": "person",
            "action": "event",
            "identifiers": anon,
            "name": "viewed",
            "attributes": {"sku": "A"},
        },
        {
            "type": "object",
            "action": "identify_anonymous",
            "identifiers": {"object_type_id": "1", "object_id": "cart-a"},
            "attributes": {"total": 10},
            "cio_relationships": [rel(anon, role="owner")],
        },
    )
    cart = the_object(runtime, ws, "1", "cart-a")
    with runtime.services.db.read() as conn:
        assert [link.right for link in ANONYMOUS_LINKS.of_left(conn, ws, "anon-1")] == [cart.pk]
    ok(client, track_auth, person_op("identify", attributes={"anonymous_id": "anon-1"}))
    ann = the_person(runtime, ws, "u1")
    assert sorted(e.name for e in events(runtime, ws, ann.pk)) == ["https://shop.test/p/1", "viewed"]
    links = person_links(runtime, ws, ann.pk)
    assert [(link.right, dict(link.state.values)) for link in links] == [(cart.pk, {"role": "owner"})]
    assert "anonymous_id" not in ann.attributes
    with runtime.services.db.read() as conn:
        assert people.anonymous_ids_of(conn, ann.pk) == ["anon-1"]


def test_events_pages_screens_and_dedupe(
    client: TestClient, track_auth: Auth, runtime: Runtime, workspace: Credentials, clock: FakeClock
) -> None:
    ws = workspace.workspace.id
    ok(
        client,
        track_auth,
        person_op("event", name="purchase", id="evt-1", timestamp=1_700_000_000, attributes={"total": 9.5}),
        person_op("event", name="purchase", id="evt-1", attributes={"total": 1}),
        person_op("page", name="https://shop.test/"),
        person_op("screen", name="Home"),
    )
    clock.advance(1000)
    ok(client, track_auth, person_op("event", name="purchase", id="evt-1"))
    ann = the_person(runtime, ws, "u1")
    found = sorted(events(runtime, ws, ann.pk), key=lambda e: e.pk)
    assert [(e.name, e.type) for e in found] == [
        ("purchase", "event"),
        ("https://shop.test/", "page"),
        ("Home", "screen"),
    ]
    purchase = found[0]
    assert purchase.data == {"total": 9.5}
    assert purchase.timestamp == 1_700_000_000_000
    assert purchase.dedupe_id == "evt-1"
    assert found[1].timestamp == clock.current - 1000


def test_person_relationships(
    client: TestClient, track_auth: Auth, runtime: Runtime, workspace: Credentials
) -> None:
    ws = workspace.workspace.id
    cart = {"object_type_id": "1", "object_id": "c1"}
    order = {"object_type_id": "2", "object_id": "o1"}
    ok(
        client,
        track_auth,
        person_op("identify", cio_relationships=[rel(cart, role="owner")]),
        person_op("add_relationships", cio_relationships=[rel(order), rel(cart, role="payer")]),
    )
    ann = the_person(runtime, ws, "u1")
    c1, o1 = the_object(runtime, ws, "1", "c1"), the_object(runtime, ws, "2", "o1")
    links = {link.right: dict(link.state.values) for link in person_links(runtime, ws, ann.pk)}
    assert links == {c1.pk: {"role": "payer"}, o1.pk: {}}
    ok(client, track_auth, person_op("delete_relationships", cio_relationships=[{"identifiers": cart}]))
    assert [link.right for link in person_links(runtime, ws, ann.pk)] == [o1.pk]
    assert history_ops(runtime, ws, person_pk=ann.pk).count("relationship_remove") == 1


def test_devices(client: TestClient, track_auth: Auth, runtime: Runtime, workspace: Credentials) -> None:
    ws = workspace.workspace.id
    device = {"token": "tok-1", "platform": "ios", "last_used": 1_700_000_000, "attributes": {"app": "1.2"}}
    ok(client, track_auth, person_op("add_device", device=device))
    # The v1 spelling ("id" for the token) is accepted too.
    ok(client, track_auth, person_op("add_device", device={"id": "tok-2", "platform": "android"}))
    ann = the_person(runtime, ws, "u1")
    with runtime.services.db.read() as conn:
        found = activity.devices_of(conn, ann.pk)
    assert [(d.token, d.platform, d.last_used, dict(d.attributes)) for d in found] == [
        ("tok-1", "ios", 1_700_000_000_000, {"app": "1.2"}),
        ("tok-2", "android", None, {}),
    ]
    ok(client, track_auth, person_op("delete_device", device={"token": "tok-1"}))
    with runtime.services.db.read() as conn:
        assert [d.token for d in activity.devices_of(conn, ann.pk)] == ["tok-2"]


def test_delete(client: TestClient, track_auth: Auth, runtime: Runtime, workspace: Credentials) -> None:
    ws = workspace.workspace.id
    ok(
        client,
        track_auth,
        person_op("identify", cio_relationships=[rel({"object_type_id": "1", "object_id": "c"})]),
    )
    pk = the_person(runtime, ws, "u1").pk
    ok(client, track_auth, person_op("delete"), person_op("delete", "never-existed"))
    assert person(runtime, ws, "id", "u1") is None
    assert person_links(runtime, ws, pk) == []
    assert "delete" in history_ops(runtime, ws, person_pk=pk)


def test_merge(client: TestClient, track_auth: Auth, runtime: Runtime, workspace: Credentials) -> None:
    ws = workspace.workspace.id
    ok(
        client,
        track_auth,
        person_op("identify", "main", attributes={"plan": "pro"}),
        {
            **person_op("identify", attributes={"plan": "free", "city": "Oslo"}),
            "identifiers": {"email": "b@x.io"},
        },
        {**person_op("event", name="clicked"), "identifiers": {"email": "b@x.io"}},
    )
    secondary = person(runtime, ws, "email", "b@x.io")
    assert secondary is not None
    ok(
        client,
        track_auth,
        {"type": "person", "action": "merge", "primary": {"id": "main"}, "secondary": {"email": "b@x.io"}},
    )
    assert person(runtime, ws, "email", "b@x.io") is None
    main = the_person(runtime, ws, "main")
    assert main.attributes["plan"] == "pro"
    assert main.attributes["city"] == "Oslo"
    assert [e.name for e in events(runtime, ws, main.pk)] == ["clicked"]


def test_suppress_and_unsuppress(
    client: TestClient, track_auth: Auth, runtime: Runtime, workspace: Credentials
) -> None:
    ws = workspace.workspace.id
    ok(client, track_auth, person_op("identify", attributes={"email": "s@x.io"}))
    ok(client, track_auth, person_op("suppress"))
    assert person(runtime, ws, "id", "u1") is None
    # A suppressed person is not re-created by later writes, by id or by email.
    ok(
        client,
        track_auth,
        person_op("identify", attributes={"a": 1}),
        {**person_op("event", name="x"), "identifiers": {"email": "S@x.io"}},
    )
    assert person(runtime, ws, "id", "u1") is None
    assert person(runtime, ws, "email", "s@x.io") is None
    ok(client, track_auth, person_op("unsuppress"))
    ok(client, track_auth, person_op("identify", attributes={"a": 2}))
    assert the_person(runtime, ws, "u1").attributes["a"] == 2


def test_entity_endpoint_applies_one_operation(
    client: TestClient, track_auth: Auth, runtime: Runtime, workspace: Credentials
) -> None:
    ws = workspace.workspace.id
    response = entity(client, track_auth, person_op("identify", attributes={"first_name": "Ann"}))
    assert (response.status_code, response.json()) == (200, {})
    assert the_person(runtime, ws, "u1").attributes["first_name"] == "Ann"
    response = entity(client, track_auth, person_op("event", name="x", attributes=[1]))
    assert response.status_code == 400
    assert response.json() == {
        "errors": [{"reason": "invalid", "field": "attributes", "message": "must be a JSON object"}]
    }
    response = entity(client, track_auth, {**person_op("identify"), "identifiers": {"cio_id": "missing"}})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "identifiers.cio_id"
    assert response.json()["errors"][0]["reason"] == "not_found"


def test_numbers_as_identifiers_and_names(
    client: TestClient, track_auth: Auth, runtime: Runtime, workspace: Credentials
) -> None:
    ws = workspace.workspace.id
    ok(client, track_auth, {**person_op("event", name=42), "identifiers": {"id": 7}})
    seven = the_person(runtime, ws, "7")
    assert [e.name for e in events(runtime, ws, seven.pk)] == ["42"]


def test_batch_errors_come_back_at_their_indexes(
    client: TestClient, track_auth: Auth, runtime: Runtime, workspace: Credentials
) -> None:
    ws = workspace.workspace.id
    response = batch(
        client,
        track_auth,
        person_op("identify", "a"),
        {"type": "person", "action": "identify"},  # parse error
        person_op("identify", "b"),
        {**person_op("identify"), "identifiers": {"cio_id": "nope"}},  # service error
        person_op("identify", "c", attributes={"email": "taken@x.io"}),
        person_op("identify", "d", attributes={"email": "taken@x.io"}),  # service error: conflict
        {"type": "delivery", "action": "opened"},
        person_op("event", "e", name="ok"),
    )
    assert errors_of(response) == [
        (1, "invalid", "identifiers"),
        (3, "not_found", "identifiers.cio_id"),
        (5, "conflict", "attributes.email"),
        (6, "unsupported", "type"),
    ]
    for ident in ("a", "b", "c", "e"):
        the_person(runtime, ws, ident)
    assert person(runtime, ws, "id", "d") is None
