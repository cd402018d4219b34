"""Pipelines API calls over HTTP, asserting what is stored (SPEC §3.3), on both databases."""

from __future__ import annotations

import gzip
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from relata.bootstrap import Runtime
from relata.core.clock import FakeClock
from relata.core.identity import PersonRef
from relata.core.model import Event, Person, StoredObject
from relata.storage import activity, objects, people
from relata.storage.links import ANONYMOUS_LINKS, PERSON_LINKS, LinkRow
from relata.storage.schema import events
from relata.storage.workspaces import Credentials


class State:
    """Reads of stored state through the storage modules."""

    def __init__(self, runtime: Runtime, workspace: Credentials) -> None:
        self.db = runtime.services.db
        self.ws = workspace.workspace.id

    def person(self, ident: str | None = None, email: str | None = None) -> Person | None:
        ref = PersonRef("id", ident) if ident is not None else PersonRef("email", email or "")
        with self.db.read() as conn:
            return people.find(conn, self.ws, ref)

    def events(self, person: Person) -> list[Event]:
        with self.db.read() as conn:
            return list(reversed(activity.events_of(conn, self.ws, person.pk)))

    def anonymous_events(self, anonymous_id: str) -> list[Any]:
        with self.db.read() as conn:
            query = select(events).where(
                events.c.workspace_id == self.ws,
                events.c.anonymous_id == anonymous_id,
                events.c.person_pk.is_(None),
            )
            return list(conn.execute(query.order_by(events.c.pk)))

    def object(self, type_ref: str, object_id: str) -> StoredObject | None:
        with self.db.read() as conn:
            object_type = objects.find_type(conn, self.ws, type_ref)
            return None if object_type is None else objects.find(conn, object_type, object_id)

    def link(self, person: Person, obj: StoredObject) -> LinkRow | None:
        with self.db.read() as conn:
            return PERSON_LINKS.get(conn, self.ws, person.pk, obj.pk)

    def anonymous_link(self, anonymous_id: str, obj: StoredObject) -> LinkRow | None:
        with self.db.read() as conn:
            return ANONYMOUS_LINKS.get(conn, self.ws, anonymous_id, obj.pk)


@pytest.fixture
def state(runtime: Runtime, workspace: Credentials) -> State:
    return State(runtime, workspace)


@pytest.fixture
def auth(workspace: Credentials) -> tuple[str, str]:
    return (workspace.pipelines_write_key, "")


def post(client: TestClient, path: str, body: Any, auth: tuple[str, str]) -> dict[str, Any]:
    response = client.post(path, json=body, auth=auth)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


# --- identify --------------------------------------------------------------------------------------


def test_identify_maps_user_id_traits_and_email(
    client: TestClient, state: State, auth: tuple[str, str]
) -> None:
    body = {"userId": "u1", "traits": {"email": "Ann@Example.com", "plan": "pro", "age": 31}}
    assert post(client, "/v1/identify", body, auth) == {"success": True}
    person = state.person("u1")
    assert person is not None
    assert person.email == "Ann@Example.com"
    assert person.attributes["plan"] == "pro"
    assert person.attributes["age"] == 31
    assert state.person(email="ann@example.com") == person


def test_identify_with_bearer_key(client: TestClient, state: State, workspace: Credentials) -> None:
    response = client.post(
        "/v1/identify",
        json={"userId": "u1", "traits": {"plan": "pro"}},
        headers={"Authorization": f"Bearer {workspace.pipelines_write_key}"},
    )
    assert response.status_code == 200, response.text
    person = state.person("u1")
    assert person is not None
    assert person.attributes["plan"] == "pro"


def test_identify_explicit_nulls(client: TestClient, state: State, auth: tuple[str, str]) -> None:
    post(client, "/v1/identify", {"userId": "u1", "traits": {"plan": "pro", "tier": 2}}, auth)
    body = {
        "userId": "u1",
        "anonymousId": None,
        "traits": {"plan": None, "tier": 3},
        "context": None,
        "integrations": None,
        "timestamp": None,
        "messageId": None,
    }
    post(client, "/v1/identify", body, auth)
    person = state.person("u1")
    assert person is not None
    assert "plan" not in person.attributes  # null removes an attribute
    assert person.attributes["tier"] == 3
    post(client, "/v1/identify", {"userId": "u2", "traits": None}, auth)
    assert state.person("u2") is not None


def test_identify_by_email_when_there_is_no_user_id(
    client: TestClient, state: State, auth: tuple[str, str]
) -> None:
    post(client, "/v1/identify", {"anonymousId": "a1", "traits": {"email": "lead@example.com"}}, auth)
    person = state.person(email="lead@example.com")
    assert person is not None
    assert person.id is None
    # Signing up later gives the same person an id.
    post(client, "/v1/identify", {"userId": "u9", "traits": {"email": "lead@example.com"}}, auth)
    later = state.person("u9")
    assert later is not None
    assert later.pk == person.pk


def test_identify_created_at_trait(
    client: TestClient, clock: FakeClock, state: State, auth: tuple[str, str]
) -> None:
    post(client, "/v1/identify", {"userId": "u1", "traits": {"plan": "free"}}, auth)
    clock.advance(60_000)
    body = {"userId": "u1", "traits": {"createdAt": "2024-05-01T00:00:00Z", "plan": "pro"}}
    post(client, "/v1/identify", body, auth)
    person = state.person("u1")
    assert person is not None
    assert person.attributes["created_at"] == 1_714_521_600
    assert "createdAt" not in person.attributes


def test_identify_created_at_of_a_new_person(client: TestClient, state: State, auth: tuple[str, str]) -> None:
    post(client, "/v1/identify", {"userId": "u1", "traits": {"created_at": 1_714_521_600}}, auth)
    person = state.person("u1")
    assert person is not None
    assert person.attributes["created_at"] == 1_714_521_600


def test_anonymous_identify_is_kept_and_carried_over(
    client: TestClient, state: State, auth: tuple[str, str]
) -> None:
    post(client, "/v1/identify", {"anonymousId": "anon-1", "traits": {"favourite": "tea"}}, auth)
    post(client, "/v1/track", {"anonymousId": "anon-1", "event": "viewed", "properties": {"sku": "A"}}, auth)
    post(client, "/v1/group", {"anonymousId": "anon-1", "groupId": "cart-1", "traits": {"total": 5}}, auth)
    kept = state.anonymous_events("anon-1")
    assert [(row.name, row.data) for row in kept] == [
        ("identify", {"favourite": "tea"}),
        ("viewed", {"sku": "A"}),
    ]
    cart = state.object("1", "cart-1")
    assert cart is not None
    assert state.anonymous_link("anon-1", cart) is not None

    post(client, "/v1/identify", {"userId": "u1", "anonymousId": "anon-1", "traits": {"plan": "pro"}}, auth)
    person = state.person("u1")
    assert person is not None
    assert [e.name for e in state.events(person)] == ["identify", "viewed"]
    assert state.anonymous_events("anon-1") == []
    assert state.link(person, cart) is not None
    assert state.anonymous_link("anon-1", cart) is None
    # Later anonymous activity under the same id lands on the person.
    post(client, "/v1/track", {"anonymousId": "anon-1", "event": "viewed_again"}, auth)
    assert [e.name for e in state.events(person)][-1] == "viewed_again"


def test_identify_out_of_order_and_replayed_message(
    client: TestClient, state: State, auth: tuple[str, str]
) -> None:
    first = {"userId": "u1", "messageId": "m1", "timestamp": "2026-01-01T10:00:00Z", "traits": {"plan": "a"}}
    second = {"userId": "u1", "messageId": "m2", "timestamp": "2026-01-01T11:00:00Z", "traits": {"plan": "b"}}
    post(client, "/v1/identify", first, auth)
    post(client, "/v1/identify", second, auth)
    post(client, "/v1/identify", first, auth)  # replayed: older than what is stored
    person = state.person("u1")
    assert person is not None
    assert person.attributes["plan"] == "b"
    removal = {
        "userId": "u1",
        "messageId": "m3",
        "timestamp": "2026-01-01T12:00:00Z",
        "traits": {"plan": None},
    }
    post(client, "/v1/identify", removal, auth)
    post(client, "/v1/identify", second, auth)  # replayed after a removal: the removal stands
    person = state.person("u1")
    assert person is not None
    assert "plan" not in person.attributes


# --- track, page, screen ---------------------------------------------------------------------------


def test_track_event_with_timestamp_and_message_id(
    client: TestClient, state: State, auth: tuple[str, str]
) -> None:
    body = {
        "userId": "u1",
        "event": "Order Completed",
        "properties": {"total": 42.5, "items": [{"sku": "A"}]},
        "timestamp": "2026-01-01T10:00:00.000Z",
        "messageId": "msg-1",
    }
    post(client, "/v1/track", body, auth)
    post(client, "/v1/track", body, auth)  # same messageId: deduplicated
    post(client, "/v1/batch", {"batch": [{**body, "type": "track"}]}, auth)
    person = state.person("u1")
    assert person is not None
    found = state.events(person)
    assert len(found) == 1
    event = found[0]
    assert (event.name, event.type, event.dedupe_id) == ("Order Completed", "event", "msg-1")
    assert event.data == {"total": 42.5, "items": [{"sku": "A"}]}
    assert event.timestamp == 1_767_261_600_000


def test_track_without_message_id_records_each_call(
    client: TestClient, state: State, auth: tuple[str, str]
) -> None:
    post(client, "/v1/track", {"userId": "u1", "event": "clicked", "properties": None}, auth)
    post(client, "/v1/track", {"userId": "u1", "event": "clicked"}, auth)
    person = state.person("u1")
    assert person is not None
    assert [(e.name, e.data) for e in state.events(person)] == [("clicked", {}), ("clicked", {})]


def test_anonymous_track(client: TestClient, state: State, auth: tuple[str, str]) -> None:
    post(
        client, "/v1/track", {"userId": None, "anonymousId": "v1", "event": "viewed", "messageId": "x"}, auth
    )
    rows = state.anonymous_events("v1")
    assert [(r.name, r.dedupe_id) for r in rows] == [("viewed", "x")]


def test_page_is_named_by_url(client: TestClient, state: State, auth: tuple[str, str]) -> None:
    page = {
        "userId": "u1",
        "name": "Home",
        "category": "Landing",
        "properties": {"url": "https://shop.example/", "title": "Shop"},
        "messageId": "p1",
    }
    post(client, "/v1/page", page, auth)
    by_context = {"userId": "u1", "context": {"page": {"url": "https://shop.example/cart"}}}
    post(client, "/v1/page", by_context, auth)
    post(client, "/v1/page", {"userId": "u1", "name": "Checkout"}, auth)
    person = state.person("u1")
    assert person is not None
    found = state.events(person)
    assert [(e.type, e.name) for e in found] == [
        ("page", "https://shop.example/"),
        ("page", "https://shop.example/cart"),
        ("page", "Checkout"),
    ]
    assert found[0].data == {
        "url": "https://shop.example/",
        "title": "Shop",
        "name": "Home",
        "category": "Landing",
    }
    assert found[0].dedupe_id == "p1"


def test_screen_view(client: TestClient, state: State, auth: tuple[str, str]) -> None:
    post(client, "/v1/screen", {"userId": "u1", "name": "Cart", "properties": {"items": 2}}, auth)
    post(client, "/v1/screen", {"anonymousId": "a1", "properties": {"name": "Home"}}, auth)
    person = state.person("u1")
    assert person is not None
    assert [(e.type, e.name, e.data) for e in state.events(person)] == [
        ("screen", "Cart", {"items": 2, "name": "Cart"})
    ]
    assert [(r.type, r.name) for r in state.anonymous_events("a1")] == [("screen", "Home")]


# --- group -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "traits", "type_id"),
    [
        ({}, {"objectTypeId": "2"}, "2"),
        ({}, {"object_type_id": 3}, "3"),
        ({"objectTypeId": "4"}, {}, "4"),
        ({}, {}, "1"),
        ({"objectTypeId": "9"}, {"objectTypeId": "5"}, "5"),
    ],
)
def test_group_object_type_variants(
    client: TestClient,
    state: State,
    auth: tuple[str, str],
    extra: dict[str, Any],
    traits: dict[str, Any],
    type_id: str,
) -> None:
    body = {"userId": "u1", "groupId": "obj-1", "traits": {"name": "Acme", **traits}, **extra}
    post(client, "/v1/group", body, auth)
    obj = state.object(type_id, "obj-1")
    assert obj is not None
    assert dict(obj.attributes) == {"name": "Acme"}
    person = state.person("u1")
    assert person is not None
    assert state.link(person, obj) is not None


def test_group_relationship_attributes(
    client: TestClient, clock: FakeClock, state: State, auth: tuple[str, str]
) -> None:
    body = {
        "userId": "u1",
        "groupId": "cart-1",
        "traits": {
            "objectTypeId": "1",
            "status": "active",
            "cart_total": 99,
            "relationshipAttributes": {"role": "owner"},
        },
        "relationshipAttributes": {"source": "web", "role": "ignored"},
    }
    post(client, "/v1/group", body, auth)
    cart = state.object("1", "cart-1")
    person = state.person("u1")
    assert cart is not None
    assert person is not None
    assert dict(cart.attributes) == {"status": "active", "cart_total": 99}
    link = state.link(person, cart)
    assert link is not None
    assert dict(link.state.values) == {"role": "owner", "source": "web"}
    # A later group call updates the object and the relationship in place.
    clock.advance(1000)
    update = {
        "userId": "u1",
        "groupId": "cart-1",
        "traits": {"cart_total": 120, "relationshipAttributes": {"role": "payer"}},
    }
    post(client, "/v1/group", update, auth)
    cart = state.object("1", "cart-1")
    assert cart is not None
    assert cart.attributes["cart_total"] == 120
    link = state.link(person, cart)
    assert link is not None
    assert link.state.values["role"] == "payer"


def test_group_without_a_person_identifies_the_object(
    client: TestClient, state: State, auth: tuple[str, str]
) -> None:
    post(client, "/v1/group", {"groupId": "p-1", "traits": {"objectTypeId": "product", "price": 3}}, auth)
    product = state.object("product", "p-1")
    assert product is not None
    assert product.attributes["price"] == 3


# --- alias -----------------------------------------------------------------------------------------


def test_alias_merges_previous_into_user(client: TestClient, state: State, auth: tuple[str, str]) -> None:
    post(client, "/v1/identify", {"userId": "old", "traits": {"nickname": "o", "plan": "free"}}, auth)
    post(client, "/v1/track", {"userId": "old", "event": "signed_up"}, auth)
    post(client, "/v1/identify", {"userId": "new", "traits": {"plan": "pro"}}, auth)
    post(client, "/v1/alias", {"userId": "new", "previousId": "old"}, auth)
    assert state.person("old") is None
    person = state.person("new")
    assert person is not None
    assert person.attributes["plan"] == "pro"
    assert person.attributes["nickname"] == "o"
    assert [e.name for e in state.events(person)] == ["signed_up"]


def test_alias_from_anonymous_id(client: TestClient, state: State, auth: tuple[str, str]) -> None:
    post(client, "/v1/track", {"anonymousId": "visitor-7", "event": "browsed"}, auth)
    post(client, "/v1/alias", {"userId": "u7", "previousId": "visitor-7"}, auth)
    person = state.person("u7")
    assert person is not None
    assert [e.name for e in state.events(person)] == ["browsed"]


# --- transport -------------------------------------------------------------------------------------


def test_gzip_bodies(client: TestClient, state: State, auth: tuple[str, str]) -> None:
    single = gzip.compress(orjson.dumps({"userId": "u1", "traits": {"plan": "gz"}}))
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    assert client.post("/v1/identify", content=single, headers=headers, auth=auth).status_code == 200
    batch = {"batch": [{"type": "track", "userId": "u1", "event": "zipped"}]}
    response = client.post(
        "/v1/batch", content=gzip.compress(orjson.dumps(batch)), headers=headers, auth=auth
    )
    assert response.status_code == 200, response.text
    person = state.person("u1")
    assert person is not None
    assert person.attributes["plan"] == "gz"
    assert [e.name for e in state.events(person)] == ["zipped"]


def test_batch_applies_every_call_type_in_order(
    client: TestClient, state: State, auth: tuple[str, str]
) -> None:
    batch = [
        {"type": "identify", "userId": "u1", "traits": {"email": "u1@example.com"}},
        {"type": "group", "userId": "u1", "groupId": "c1", "traits": {"objectTypeId": "1", "total": 1}},
        {"type": "track", "userId": "u1", "event": "added", "properties": {"sku": "A"}},
        {"type": "page", "userId": "u1", "properties": {"url": "https://x.example/"}},
        {"type": "screen", "userId": "u1", "name": "Home"},
        {"type": "identify", "userId": "u2", "traits": {"plan": "x"}},
        {"type": "alias", "userId": "u1", "previousId": "u2"},
    ]
    assert post(client, "/v1/batch", {"batch": batch, "sentAt": "2026-01-01T00:00:00Z"}, auth) == {
        "success": True
    }
    person = state.person("u1")
    assert person is not None
    assert person.email == "u1@example.com"
    assert person.attributes["plan"] == "x"
    assert state.person("u2") is None
    assert [(e.type, e.name) for e in state.events(person)] == [
        ("event", "added"),
        ("page", "https://x.example/"),
        ("screen", "Home"),
    ]
    cart = state.object("1", "c1")
    assert cart is not None
    assert state.link(person, cart) is not None


def test_empty_batch(client: TestClient, auth: tuple[str, str]) -> None:
    assert post(client, "/v1/batch", {"batch": []}, auth) == {"success": True}


def test_batch_context_merges_under_message_context(
    client: TestClient, runtime: Runtime, state: State, auth: tuple[str, str]
) -> None:
    body = {
        "context": {
            "device": {"token": "tok-batch", "type": "ios", "model": "X"},
            "page": {"url": "https://b/"},
        },
        "batch": [
            {
                "type": "track",
                "userId": "u1",
                "event": "Device Created or Updated",
                "context": {"device": {"type": "android"}},
            },
            {"type": "page", "userId": "u1"},
            {"type": "page", "userId": "u1", "context": {"page": {"url": "https://own/"}}},
        ],
    }
    post(client, "/v1/batch", body, auth)
    person = state.person("u1")
    assert person is not None
    with runtime.services.db.read() as conn:
        devices = activity.devices_of(conn, person.pk)
    assert [(d.token, d.platform, dict(d.attributes)) for d in devices] == [
        ("tok-batch", "android", {"model": "X"})
    ]
    assert [e.name for e in state.events(person)] == ["https://b/", "https://own/"]


def test_workspace_isolation(
    client: TestClient, runtime: Runtime, state: State, auth: tuple[str, str]
) -> None:
    other = runtime.services.workspaces.create("other")
    other_auth = (other.pipelines_write_key, "")
    post(client, "/v1/identify", {"userId": "u1", "traits": {"owner": "first"}}, auth)
    post(client, "/v1/identify", {"userId": "u1", "traits": {"owner": "second"}}, other_auth)
    post(
        client,
        "/v1/track",
        {"userId": "u1", "event": "Object Deleted", "properties": {"objectId": "c1"}},
        other_auth,
    )
    post(client, "/v1/group", {"userId": "u1", "groupId": "c1", "traits": {"n": 1}}, auth)
    post(client, "/v1/track", {"userId": "u1", "event": "User Deleted"}, other_auth)
    person = state.person("u1")
    assert person is not None
    assert person.attributes["owner"] == "first"
    assert state.object("1", "c1") is not None
    theirs = State(runtime, other)
    assert theirs.person("u1") is None
    assert theirs.object("1", "c1") is None
