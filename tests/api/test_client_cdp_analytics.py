"""The official ``customerio-cdp-analytics`` client (``customerio.analytics``) against a live Relata.

The client queues calls and a consumer thread posts them to ``{host}/v1/batch`` with HTTP Basic
``write_key:``; ``flush()`` waits until the queue is empty. ``sync_mode=True`` posts each call at once
and raises ``APIError`` (built from our ``{"code", "message"}``) on a non-200 answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import customerio.analytics.client as cdp_client
import customerio.analytics.request as cdp_request
import pytest

from relata.bootstrap import Runtime
from relata.core.identity import PersonRef
from relata.core.model import Person, StoredObject
from relata.storage import activity, objects, people
from relata.storage.links import PERSON_LINKS
from relata.storage.workspaces import Credentials


class Failures:
    def __init__(self) -> None:
        self.seen: list[tuple[Exception, list[dict[str, Any]]]] = []

    def __call__(self, error: Exception, batch: list[dict[str, Any]]) -> None:
        self.seen.append((error, batch))


@pytest.fixture
def failures() -> Failures:
    return Failures()


@pytest.fixture
def analytics(live_server: Any, workspace: Credentials, failures: Failures) -> Iterator[Any]:
    """A queueing client that posts to the live server, retrying nothing."""
    client = cdp_client.Client(
        workspace.pipelines_write_key,
        host=live_server.url,
        on_error=failures,
        max_retries=0,
        upload_interval=0.05,
    )
    yield client
    client.shutdown()


def find_person(runtime: Runtime, workspace: Credentials, ident: str) -> Person | None:
    with runtime.services.db.read() as conn:
        return people.find(conn, workspace.workspace.id, PersonRef("id", ident))


def find_object(
    runtime: Runtime, workspace: Credentials, type_ref: str, object_id: str
) -> StoredObject | None:
    with runtime.services.db.read() as conn:
        object_type = objects.find_type(conn, workspace.workspace.id, type_ref)
        return None if object_type is None else objects.find(conn, object_type, object_id)


def test_identify_track_group_and_semantic_events(
    analytics: Any, failures: Failures, runtime: Runtime, workspace: Credentials
) -> None:
    ws = workspace.workspace.id
    analytics.identify("u1", {"email": "ann@example.com", "first_name": "Ann"})
    analytics.track("u1", "Product Viewed", {"sku": "SKU-1", "price": 9.5}, message_id="m-1")
    analytics.track("u1", "Product Viewed", {"sku": "SKU-1", "price": 9.5}, message_id="m-1")
    analytics.page("u1", name="Home", properties={"url": "https://shop.example/"})
    analytics.group(
        "u1",
        "cart-1",
        {
            "objectTypeId": "1",
            "status": "active",
            "cart_total": 42,
            "relationshipAttributes": {"role": "owner"},
        },
    )
    analytics.group("u1", "cart-2", {"object_type_id": "1", "status": "active"})
    analytics.group("u1", "order-1", {"objectTypeId": "3", "total": 100})
    analytics.flush()
    assert failures.seen == []

    person = find_person(runtime, workspace, "u1")
    cart = find_object(runtime, workspace, "1", "cart-1")
    assert person is not None
    assert cart is not None
    assert person.email == "ann@example.com"
    assert person.attributes["first_name"] == "Ann"
    assert dict(cart.attributes) == {"status": "active", "cart_total": 42}
    with runtime.services.db.read() as conn:
        link = PERSON_LINKS.get(conn, ws, person.pk, cart.pk)
        found = list(reversed(activity.events_of(conn, ws, person.pk)))
    assert link is not None
    assert dict(link.state.values) == {"role": "owner"}
    assert [(e.type, e.name, e.dedupe_id) for e in found] == [
        ("event", "Product Viewed", "m-1"),
        ("page", "https://shop.example/", found[1].dedupe_id),
    ]
    assert found[0].data == {"sku": "SKU-1", "price": 9.5}

    analytics.track("u1", "Relationship Deleted", {"objectId": "cart-1", "objectTypeId": "1"})
    analytics.track("u1", "Object Deleted", {"objectId": "order-1", "objectTypeId": "3"})
    analytics.flush()
    assert failures.seen == []
    assert find_object(runtime, workspace, "3", "order-1") is None
    cart = find_object(runtime, workspace, "1", "cart-1")
    cart_2 = find_object(runtime, workspace, "1", "cart-2")
    assert cart is not None
    assert cart_2 is not None
    with runtime.services.db.read() as conn:
        assert PERSON_LINKS.get(conn, ws, person.pk, cart.pk) is None
        assert PERSON_LINKS.get(conn, ws, person.pk, cart_2.pk) is not None


def test_anonymous_activity_then_identify(
    analytics: Any, failures: Failures, runtime: Runtime, workspace: Credentials
) -> None:
    analytics.track(event="Product Viewed", anonymous_id="anon-1", properties={"sku": "A"})
    analytics.screen(anonymous_id="anon-1", name="Cart")
    analytics.identify("u2", {"plan": "pro"}, anonymous_id="anon-1")
    analytics.alias(previous_id="u-old", user_id="u2")
    analytics.flush()
    assert failures.seen == []
    person = find_person(runtime, workspace, "u2")
    assert person is not None
    with runtime.services.db.read() as conn:
        names = [e.name for e in reversed(activity.events_of(conn, workspace.workspace.id, person.pk))]
    assert names == ["Product Viewed", "Cart"]


def test_sync_mode_with_gzip(live_server: Any, runtime: Runtime, workspace: Credentials) -> None:
    client = cdp_client.Client(workspace.pipelines_write_key, host=live_server.url, sync_mode=True, gzip=True)
    ok, _message = client.identify("u3", {"plan": "gz"})
    assert ok
    client.track("u3", "Device Created or Updated", {"device": {"token": "tok-3", "type": "ios"}})
    person = find_person(runtime, workspace, "u3")
    assert person is not None
    assert person.attributes["plan"] == "gz"
    with runtime.services.db.read() as conn:
        assert [d.token for d in activity.devices_of(conn, person.pk)] == ["tok-3"]


def test_errors_reach_the_client_as_api_errors(live_server: Any, workspace: Credentials) -> None:
    client = cdp_client.Client(workspace.pipelines_write_key, host=live_server.url, sync_mode=True)
    with pytest.raises(cdp_request.APIError) as raised:
        client.track("u4", "Device Created or Updated", {})
    assert raised.value.status == 400
    assert raised.value.code == "invalid"
    assert "batch[0].properties.device.token" in raised.value.message

    wrong = cdp_client.Client("not-a-key", host=live_server.url, sync_mode=True)
    with pytest.raises(cdp_request.APIError) as raised:
        wrong.identify("u4", {})
    assert raised.value.status == 401
    assert raised.value.code == "unauthorized"


def test_on_error_receives_the_rejected_batch(
    live_server: Any, workspace: Credentials, failures: Failures, runtime: Runtime
) -> None:
    client = cdp_client.Client(
        workspace.pipelines_write_key,
        host=live_server.url,
        on_error=failures,
        max_retries=0,
        upload_interval=0.05,
    )
    try:
        client.identify("u5", {"plan": "kept"})
        client.track("u5", "User Deleted", {}, anonymous_id=None)
        client.identify("u6", {"email": "not-an-email"})
        client.flush()
    finally:
        client.shutdown()
    assert len(failures.seen) == 1
    error, batch = failures.seen[0]
    assert isinstance(error, cdp_request.APIError)
    assert error.status == 400
    assert "traits.email" in error.message
    assert {"type": "identify", "userId": "u6"}.items() <= batch[-1].items()
    # The valid messages of the batch were applied all the same.
    assert find_person(runtime, workspace, "u5") is None
    assert find_person(runtime, workspace, "u6") is None
