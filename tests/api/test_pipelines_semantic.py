"""Semantic events on the Pipelines ``track`` call: track calls that act on the graph (SPEC §3.3)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from relata.bootstrap import Runtime
from relata.core.identity import PersonRef
from relata.core.model import Device, Event, Person, StoredObject
from relata.storage import activity, objects, people
from relata.storage.links import ANONYMOUS_LINKS, PERSON_LINKS
from relata.storage.workspaces import Credentials


class Graph:
    def __init__(self, runtime: Runtime, workspace: Credentials) -> None:
        self.db = runtime.services.db
        self.ws = workspace.workspace.id

    def person(self, ident: str) -> Person | None:
        with self.db.read() as conn:
            return people.find(conn, self.ws, PersonRef("id", ident))

    def object(self, type_ref: str, object_id: str) -> StoredObject | None:
        with self.db.read() as conn:
            object_type = objects.find_type(conn, self.ws, type_ref)
            return None if object_type is None else objects.find(conn, object_type, object_id)

    def linked(self, ident: str, type_ref: str, object_id: str) -> bool:
        person, obj = self.person(ident), self.object(type_ref, object_id)
        assert person is not None
        assert obj is not None
        with self.db.read() as conn:
            return PERSON_LINKS.get(conn, self.ws, person.pk, obj.pk) is not None

    def devices(self, ident: str) -> list[Device]:
        person = self.person(ident)
        assert person is not None
        with self.db.read() as conn:
            return activity.devices_of(conn, person.pk)

    def events(self, ident: str) -> list[Event]:
        person = self.person(ident)
        assert person is not None
        with self.db.read() as conn:
            return activity.events_of(conn, self.ws, person.pk)


@pytest.fixture
def graph(runtime: Runtime, workspace: Credentials) -> Graph:
    return Graph(runtime, workspace)


@pytest.fixture
def send(client: TestClient, workspace: Credentials) -> Any:
    auth = (workspace.pipelines_write_key, "")

    def send_(path: str, body: dict[str, Any], status: int = 200) -> dict[str, Any]:
        response = client.post(path, json=body, auth=auth)
        assert response.status_code == status, response.text
        found: dict[str, Any] = response.json()
        return found

    return send_


def _cart(send: Any, user: str = "u1", cart: str = "c1", type_id: str = "1") -> None:
    traits = {"objectTypeId": type_id, "total": 10}
    send("/v1/group", {"userId": user, "groupId": cart, "traits": traits})


@pytest.mark.parametrize(
    "properties",
    [
        {"objectId": "c1", "objectTypeId": "2"},
        {"object_id": "c1", "object_type_id": 2},
    ],
)
def test_relationship_deleted(send: Any, graph: Graph, properties: dict[str, Any]) -> None:
    _cart(send, type_id="2")
    _cart(send, cart="c2", type_id="2")
    assert graph.linked("u1", "2", "c1")
    send("/v1/track", {"userId": "u1", "event": "Relationship Deleted", "properties": properties})
    assert not graph.linked("u1", "2", "c1")
    assert graph.linked("u1", "2", "c2")
    assert graph.object("2", "c1") is not None  # only the relationship goes
    assert graph.events("u1") == []  # an action, not an event


def test_relationship_deleted_with_context_group_id_and_default_type(send: Any, graph: Graph) -> None:
    _cart(send)
    body = {"userId": "u1", "event": "Relationship Deleted", "context": {"groupId": "c1"}}
    send("/v1/track", body)
    assert not graph.linked("u1", "1", "c1")


def test_relationship_deleted_for_an_anonymous_visitor(
    send: Any, graph: Graph, runtime: Runtime, workspace: Credentials
) -> None:
    send("/v1/group", {"anonymousId": "a1", "groupId": "c1", "traits": {"total": 1}})
    cart = graph.object("1", "c1")
    assert cart is not None
    with runtime.services.db.read() as conn:
        assert ANONYMOUS_LINKS.get(conn, workspace.workspace.id, "a1", cart.pk) is not None
    send(
        "/v1/track", {"anonymousId": "a1", "event": "Relationship Deleted", "properties": {"objectId": "c1"}}
    )
    with runtime.services.db.read() as conn:
        assert ANONYMOUS_LINKS.get(conn, workspace.workspace.id, "a1", cart.pk) is None


def test_relationship_deleted_of_unknown_things_is_a_no_op(send: Any, graph: Graph) -> None:
    send("/v1/track", {"userId": "nobody", "event": "Relationship Deleted", "properties": {"objectId": "x"}})
    assert graph.person("nobody") is None
    assert graph.object("1", "x") is None


def test_object_deleted(send: Any, graph: Graph) -> None:
    _cart(send, type_id="3")
    body = {"userId": "u1", "event": "Object Deleted", "properties": {"objectId": "c1", "objectTypeId": "3"}}
    send("/v1/track", body)
    assert graph.object("3", "c1") is None
    assert graph.person("u1") is not None
    send("/v1/track", body)  # again: nothing left to delete, still fine


def test_user_deleted(send: Any, graph: Graph) -> None:
    send("/v1/identify", {"userId": "u1", "traits": {"plan": "pro"}})
    send("/v1/track", {"userId": "u1", "event": "User Deleted"})
    assert graph.person("u1") is None


def test_user_suppressed_and_unsuppressed(send: Any, graph: Graph) -> None:
    send("/v1/identify", {"userId": "u1", "traits": {"plan": "pro"}})
    send("/v1/track", {"userId": "u1", "event": "User Suppressed"})
    assert graph.person("u1") is None
    send("/v1/identify", {"userId": "u1", "traits": {"plan": "again"}})
    assert graph.person("u1") is None  # suppressed identifiers are not re-added
    send("/v1/track", {"userId": "u1", "event": "User Unsuppressed"})
    send("/v1/identify", {"userId": "u1", "traits": {"plan": "back"}})
    person = graph.person("u1")
    assert person is not None
    assert person.attributes["plan"] == "back"


@pytest.mark.parametrize(
    "body",
    [
        {"properties": {"device": {"token": "tok-1", "type": "ios", "app_version": "2.1"}}},
        {"context": {"device": {"token": "tok-1", "type": "ios", "app_version": "2.1"}}},
        {"properties": {"device_token": "tok-1", "device_type": "ios"}},
    ],
)
def test_device_created_or_updated_and_deleted(send: Any, graph: Graph, body: dict[str, Any]) -> None:
    send("/v1/identify", {"userId": "u1"})
    event = {"userId": "u1", "event": "Device Created or Updated", "timestamp": 1_767_000_000, **body}
    send("/v1/track", event)
    devices = graph.devices("u1")
    assert [(d.token, d.platform, d.last_used) for d in devices] == [("tok-1", "ios", 1_767_000_000_000)]
    send(
        "/v1/track",
        {
            "userId": "u1",
            "event": "Device Created or Updated",
            "properties": {"token": "tok-1", "platform": "android"},
        },
    )
    assert [(d.token, d.platform) for d in graph.devices("u1")] == [("tok-1", "android")]
    send(
        "/v1/track", {"userId": "u1", "event": "Device Deleted", "properties": {"device": {"token": "tok-1"}}}
    )
    assert graph.devices("u1") == []
    assert graph.events("u1") == []


def test_device_attributes_are_kept(send: Any, graph: Graph) -> None:
    device = {"token": "tok-9", "type": "android", "app_version": "3.0", "push_enabled": True}
    send("/v1/track", {"userId": "u1", "event": "Device Created or Updated", "context": {"device": device}})
    [stored] = graph.devices("u1")
    assert dict(stored.attributes) == {"app_version": "3.0", "push_enabled": True}


def test_report_delivery_event_is_recorded(send: Any, graph: Graph) -> None:
    properties = {"deliveryId": "d-1", "metric": "opened"}
    body = {"userId": "u1", "event": "Report Delivery Event", "properties": properties, "messageId": "rd-1"}
    send("/v1/track", body)
    send("/v1/track", body)
    [event] = graph.events("u1")
    assert (event.name, dict(event.data), event.dedupe_id) == ("Report Delivery Event", properties, "rd-1")


def test_semantic_events_in_a_batch(send: Any, graph: Graph) -> None:
    batch = [
        {"type": "group", "userId": "u1", "groupId": "c1", "traits": {"objectTypeId": "1"}},
        {"type": "group", "userId": "u1", "groupId": "c2", "traits": {"objectTypeId": "1"}},
        {"type": "track", "userId": "u1", "event": "Relationship Deleted", "properties": {"objectId": "c1"}},
        {"type": "track", "userId": "u1", "event": "Object Deleted", "properties": {"objectId": "c2"}},
    ]
    send("/v1/batch", {"batch": batch})
    assert not graph.linked("u1", "1", "c1")
    assert graph.object("1", "c2") is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"userId": "u1", "event": "Relationship Deleted"}, "properties.objectId"),
        ({"anonymousId": None, "event": "Relationship Deleted", "properties": {"objectId": "c"}}, "userId"),
        (
            {"userId": "u1", "event": "Object Deleted", "properties": {"objectId": {"x": 1}}},
            "properties.objectId",
        ),
        (
            {"userId": "u1", "event": "Object Deleted", "properties": {"objectId": "c", "objectTypeId": []}},
            "properties.objectTypeId",
        ),
        ({"anonymousId": "a", "event": "User Deleted"}, "userId"),
        ({"anonymousId": "a", "event": "User Suppressed"}, "userId"),
        ({"userId": "u1", "event": "Device Created or Updated"}, "properties.device.token"),
        (
            {"userId": "u1", "event": "Device Created or Updated", "context": {"device": {"type": "ios"}}},
            "context.device.token",
        ),
        ({"anonymousId": "a", "event": "Device Deleted", "properties": {"token": "t"}}, "userId"),
        (
            {"userId": "u1", "event": "Device Created or Updated", "properties": {"token": "   "}},
            "properties.token",
        ),
    ],
)
def test_semantic_event_errors_name_the_field(send: Any, body: dict[str, Any], field: str) -> None:
    found = send("/v1/track", body, status=400)
    assert found["code"] == "invalid"
    assert found["message"].startswith(f"{field}: ")
