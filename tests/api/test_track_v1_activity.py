"""Track API v1 events and devices through HTTP, asserting what was stored (both databases)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from relata.bootstrap import Runtime
from relata.core.clock import FakeClock
from relata.core.identity import PersonRef
from relata.core.model import Device, Event, Person
from relata.storage import activity, people
from relata.storage.schema import events
from relata.storage.workspaces import Credentials

Auth = tuple[str, str]


def get(runtime: Runtime, ws: Credentials, kind: str, value: str) -> Person:
    with runtime.services.db.read() as conn:
        found = people.find(conn, ws.workspace.id, PersonRef(kind, value))  # type: ignore[arg-type]
    assert found is not None, f"no person {kind}={value}"
    return found


def events_of(runtime: Runtime, ws: Credentials, person: Person) -> list[Event]:
    with runtime.services.db.read() as conn:
        return list(reversed(activity.events_of(conn, ws.workspace.id, person.pk)))


def devices_of(runtime: Runtime, person: Person) -> list[Device]:
    with runtime.services.db.read() as conn:
        return activity.devices_of(conn, person.pk)


def anonymous_events(runtime: Runtime) -> list[Any]:
    with runtime.services.db.read() as conn:
        return list(conn.execute(select(events).where(events.c.person_pk.is_(None)).order_by(events.c.pk)))


def ok(response: Any) -> None:
    assert (response.status_code, response.json()) == (200, {}), response.text


# --- events ---------------------------------------------------------------------------------------


def test_event_for_a_person(
    client: TestClient, runtime: Runtime, workspace: Credentials, track_auth: Auth, clock: FakeClock
) -> None:
    body = {"name": "added_to_cart", "data": {"sku": "A1", "price": 9.5}, "timestamp": 1_700_000_000}
    ok(client.post("/api/v1/customers/u1/events", json=body, auth=track_auth))
    ok(client.post("/api/v1/customers/u1/events", json={"name": " opened_app\n"}, auth=track_auth))
    person = get(runtime, workspace, "id", "u1")  # created on first event
    first, second = events_of(runtime, workspace, person)
    assert (first.name, first.type, first.data, first.timestamp) == (
        "added_to_cart",
        "event",
        {"sku": "A1", "price": 9.5},
        1_700_000_000_000,
    )
    assert (second.name, second.data, second.timestamp) == ("opened_app", {}, clock.now())


@pytest.mark.parametrize("kind", ["page", "screen", "event"])
def test_event_types(
    client: TestClient, runtime: Runtime, workspace: Credentials, track_auth: Auth, kind: str
) -> None:
    ok(
        client.post(
            f"/api/v1/customers/{quote('a@b.co', safe='')}/events",
            json={"name": "https://shop.example/cart", "type": kind},
            auth=track_auth,
        )
    )
    (event,) = events_of(runtime, workspace, get(runtime, workspace, "email", "a@b.co"))
    assert (event.type, event.name) == (kind, "https://shop.example/cart")


def test_event_dedupe_by_id(
    client: TestClient, runtime: Runtime, workspace: Credentials, track_auth: Auth
) -> None:
    body = {"name": "order_completed", "id": "01HZY0000000000000000000AA", "data": {"total": 10}}
    ok(client.post("/api/v1/customers/u1/events", json=body, auth=track_auth))
    ok(client.post("/api/v1/customers/u1/events", json={**body, "data": {"total": 99}}, auth=track_auth))
    anonymous = {**body, "anonymous_id": "anon"}
    ok(client.post("/api/v1/events", json=anonymous, auth=track_auth))
    (event,) = events_of(runtime, workspace, get(runtime, workspace, "id", "u1"))
    assert event.dedupe_id == "01HZY0000000000000000000AA"
    assert event.data == {"total": 10}
    assert anonymous_events(runtime) == []


def test_anonymous_event(client: TestClient, runtime: Runtime, track_auth: Auth) -> None:
    body = {"anonymous_id": "anon-9", "name": "viewed", "type": "page", "data": {"url": "/"}, "timestamp": 5}
    ok(client.post("/api/v1/events", json=body, auth=track_auth))
    (row,) = anonymous_events(runtime)
    assert (row.anonymous_id, row.name, row.type, row.data, row.timestamp) == (
        "anon-9",
        "viewed",
        "page",
        {"url": "/"},
        5000,
    )


def test_anonymous_event_needs_an_anonymous_id(client: TestClient, track_auth: Auth) -> None:
    response = client.post("/api/v1/events", json={"name": "viewed"}, auth=track_auth)
    assert response.status_code == 400
    assert response.json()["meta"]["errors"][0].startswith("anonymous_id: is required")


def test_invite_event_without_anonymous_id(client: TestClient, runtime: Runtime, track_auth: Auth) -> None:
    body = {"name": "beta_invite", "data": {"recipient": "friend@example.com"}}
    ok(client.post("/api/v1/events", json=body, auth=track_auth))
    (row,) = anonymous_events(runtime)
    assert (row.anonymous_id, row.data["recipient"]) == (None, "friend@example.com")


# --- devices --------------------------------------------------------------------------------------


def test_add_update_and_delete_device(
    client: TestClient, runtime: Runtime, workspace: Credentials, track_auth: Auth, clock: FakeClock
) -> None:
    fcm_token = "f" * 163  # FCM registration tokens are longer than the 150-byte identifier limit
    body = {
        "device": {
            "id": fcm_token,
            "platform": "android",
            "last_used": 1_700_000_000,
            "attributes": {"app_version": "1.2", "push_enabled": "true"},
        }
    }
    ok(client.put("/api/v1/customers/u1/devices", json=body, auth=track_auth))
    ok(
        client.put(
            "/api/v1/customers/u1/devices",
            json={"device": {"id": "apns/token+1", "platform": "ios", "device_model": "iPhone15"}},
            auth=track_auth,
        )
    )
    person = get(runtime, workspace, "id", "u1")
    devices = {d.token: d for d in devices_of(runtime, person)}
    assert devices[fcm_token] == Device(
        fcm_token, "android", 1_700_000_000_000, {"app_version": "1.2", "push_enabled": "true"}
    )
    # last_used defaults to the time of the request; unknown keys are kept as attributes.
    assert devices["apns/token+1"] == Device("apns/token+1", "ios", clock.now(), {"device_model": "iPhone15"})

    clock.advance(60_000)
    body["device"]["attributes"] = {"app_version": "1.3"}
    body["device"].pop("last_used")
    ok(client.put("/api/v1/customers/u1/devices", json=body, auth=track_auth))
    updated = {d.token: d for d in devices_of(runtime, person)}[fcm_token]
    assert (updated.last_used, updated.attributes) == (clock.now(), {"app_version": "1.3"})

    token = quote("apns/token+1", safe="")
    ok(client.request("DELETE", f"/api/v1/customers/u1/devices/{token}", json={}, auth=track_auth))
    assert [d.token for d in devices_of(runtime, person)] == [fcm_token]
    ok(client.delete(f"/api/v1/customers/u1/devices/{fcm_token}", auth=track_auth))
    assert devices_of(runtime, person) == []
    ok(client.delete("/api/v1/customers/u1/devices/unknown", auth=track_auth))  # no error


def test_device_moves_to_the_person_who_registers_it_last(
    client: TestClient, runtime: Runtime, workspace: Credentials, track_auth: Auth
) -> None:
    device = {"device": {"id": "tok", "platform": "ios"}}
    ok(client.put("/api/v1/customers/a/devices", json=device, auth=track_auth))
    ok(client.put("/api/v1/customers/b/devices", json=device, auth=track_auth))
    assert devices_of(runtime, get(runtime, workspace, "id", "a")) == []
    assert [d.token for d in devices_of(runtime, get(runtime, workspace, "id", "b"))] == ["tok"]


def test_devices_path_inside_an_identifier_is_an_identifier(
    client: TestClient, runtime: Runtime, workspace: Credentials, track_auth: Auth
) -> None:
    """``team%2Fdevices`` is a customer id, not the devices endpoint of ``team``."""
    ok(client.put("/api/v1/customers/team%2Fdevices", json={"device": "not a device"}, auth=track_auth))
    assert get(runtime, workspace, "id", "team/devices").attributes["device"] == "not a device"
    body = {"device": {"id": "t1", "platform": "ios"}}
    ok(client.put("/api/v1/customers/team%2Fdevices/devices", json=body, auth=track_auth))
    assert [d.token for d in devices_of(runtime, get(runtime, workspace, "id", "team/devices"))] == ["t1"]
    ok(client.post("/api/v1/customers/a%2Fevents/events", json={"name": "n"}, auth=track_auth))
    (event,) = events_of(runtime, workspace, get(runtime, workspace, "id", "a/events"))
    assert event.name == "n"
