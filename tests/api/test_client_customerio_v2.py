"""The official ``customerio`` Python client's v2 ``batch()`` against Relata over HTTPS, on both stores.

The client only changes its host: ``CustomerIO(site_id, api_key, host=..., port=...)`` posts
``{"batch": [...]}`` to ``https://host:port/api/v2/batch`` with HTTP Basic auth; a non-2xx raises.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import customerio.track as cio_track
import pytest
from test_track_v2_support import (
    events,
    find_object,
    object_links,
    person_links,
    the_object,
    the_person,
)

from relata.bootstrap import Runtime
from relata.storage import activity
from relata.storage.workspaces import Credentials


@pytest.fixture
def cio(live_tls_server: Any, tls_ca: dict[str, str], workspace: Credentials) -> Iterator[Any]:
    client = cio_track.CustomerIO(
        workspace.site_id, workspace.track_api_key, host="127.0.0.1", port=live_tls_server.port, retries=0
    )
    client.http.trust_env = False
    client.http.verify = tls_ca["ca"]
    yield client
    client.close()


def test_people_objects_links_and_events_through_the_client(
    cio: Any, runtime: Runtime, workspace: Credentials
) -> None:
    ws = workspace.workspace.id
    response = cio.batch(
        [
            {
                "type": "person",
                "action": "identify",
                "identifiers": {"id": "shopper-1"},
                "attributes": {"email": "shopper@example.com", "first_name": "Ada", "vip": True},
                "timestamp": datetime(2026, 1, 1, tzinfo=UTC),  # the client sends unix seconds
            },
            {
                "type": "object",
                "action": "identify",
                "identifiers": {"object_type_id": "1", "object_id": "cart-1"},
                "attributes": {"status": "active", "total": 59.5, "currency": "USD"},
                "cio_relationships": [
                    {"identifiers": {"id": "shopper-1"}, "relationship_attributes": {"role": "owner"}},
                    {
                        "identifiers": {"object_type_id": "2", "object_id": "item-1"},
                        "relationship_attributes": {"qty": 1},
                    },
                    {
                        "identifiers": {"object_type_id": "2", "object_id": "item-2"},
                        "relationship_attributes": {"qty": 2},
                    },
                ],
            },
            {
                "type": "object",
                "action": "identify",
                "identifiers": {"object_type_id": "2", "object_id": "item-1"},
                "attributes": {"sku": "SKU-1", "in_stock": True},
            },
            {
                "type": "person",
                "action": "event",
                "identifiers": {"email": "shopper@example.com"},
                "name": "viewed_product",
                "id": "evt-0001",
                "timestamp": 1_767_225_000,
                "attributes": {"sku": "SKU-1", "price": 29.75},
            },
            {"type": "person", "action": "page", "identifiers": {"id": "shopper-1"}, "name": "/cart"},
            {
                "type": "person",
                "action": "add_device",
                "identifiers": {"id": "shopper-1"},
                "device": {
                    "token": "apns-token",
                    "platform": "ios",
                    "last_used": datetime(2026, 1, 2, tzinfo=UTC),
                },
            },
        ]
    )
    assert response.status_code == 200
    assert response.json() == {}

    shopper = the_person(runtime, ws, "shopper-1")
    assert shopper.email == "shopper@example.com"
    assert shopper.attributes["first_name"] == "Ada"
    assert shopper.stamps["first_name"] == 1_767_225_600_000
    cart = the_object(runtime, ws, "1", "cart-1")
    item_1, item_2 = the_object(runtime, ws, "2", "item-1"), the_object(runtime, ws, "2", "item-2")
    assert cart.attributes == {"status": "active", "total": 59.5, "currency": "USD"}
    assert item_1.attributes == {"sku": "SKU-1", "in_stock": True}
    assert [(lk.right, dict(lk.state.values)) for lk in person_links(runtime, ws, shopper.pk)] == [
        (cart.pk, {"role": "owner"})
    ]
    children = {lk.right: dict(lk.state.values) for lk in object_links(runtime, ws, cart.pk)}
    assert children == {item_1.pk: {"qty": 1}, item_2.pk: {"qty": 2}}
    found = sorted(events(runtime, ws, shopper.pk), key=lambda e: e.pk)
    assert [(e.name, e.type) for e in found] == [("viewed_product", "event"), ("/cart", "page")]
    assert found[0].data == {"sku": "SKU-1", "price": 29.75}
    assert found[0].timestamp == 1_767_225_000_000
    assert found[0].dedupe_id == "evt-0001"
    with runtime.services.db.read() as conn:
        [device] = activity.devices_of(conn, shopper.pk)
    assert (device.token, device.platform, device.last_used) == ("apns-token", "ios", 1_767_312_000_000)

    # Update, unlink, delete: the cart drops an item, the shopper's relationship goes, an item is deleted.
    response = cio.batch(
        [
            {
                "type": "object",
                "action": "delete_relationships",
                "identifiers": {"object_type_id": "1", "object_id": "cart-1"},
                "cio_relationships": [{"identifiers": {"object_type_id": "2", "object_id": "item-2"}}],
            },
            {
                "type": "person",
                "action": "delete_relationships",
                "identifiers": {"id": "shopper-1"},
                "cio_relationships": [{"identifiers": {"object_type_id": "1", "object_id": "cart-1"}}],
            },
            {
                "type": "object",
                "action": "delete",
                "identifiers": {"object_type_id": "2", "object_id": "item-2"},
            },
            {
                "type": "person",
                "action": "event",
                "identifiers": {"id": "shopper-1"},
                "name": "x",
                "id": "evt-0001",
            },
        ]
    )
    assert response.status_code == 200
    assert [lk.right for lk in object_links(runtime, ws, cart.pk)] == [item_1.pk]
    assert person_links(runtime, ws, shopper.pk) == []
    assert find_object(runtime, ws, "2", "item-2") is None
    assert len(events(runtime, ws, shopper.pk)) == 2  # the repeated event id was deduplicated


def test_partial_batch_through_the_client(cio: Any, runtime: Runtime, workspace: Credentials) -> None:
    """A 207 is a 2xx: the client returns the response, whose errors point at the rejected operations."""
    response = cio.batch(
        [
            {"type": "person", "action": "identify", "identifiers": {"id": "good"}, "attributes": {"a": 1}},
            {"type": "person", "action": "identify", "identifiers": {"id": "x" * 151}},
            {"type": "delivery", "action": "event", "identifiers": {"id": "dlv-1"}, "name": "opened"},
            {
                "type": "object",
                "action": "identify",
                "identifiers": {"object_type_id": "1", "object_id": "o"},
            },
        ]
    )
    assert response.status_code == 207
    errors = response.json()["errors"]
    assert [(e["batch_index"], e["reason"], e["field"]) for e in errors] == [
        (1, "too_large", "identifiers.id"),
        (2, "unsupported", "type"),
    ]
    ws = workspace.workspace.id
    assert the_person(runtime, ws, "good").attributes["a"] == 1
    the_object(runtime, ws, "1", "o")


def test_wrong_key_raises_in_the_client(
    live_tls_server: Any, tls_ca: dict[str, str], workspace: Credentials
) -> None:
    client = cio_track.CustomerIO(
        workspace.site_id, "wrong", host="127.0.0.1", port=live_tls_server.port, retries=0
    )
    client.http.trust_env = False
    client.http.verify = tls_ca["ca"]
    with pytest.raises(cio_track.CustomerIOException, match="401"):
        client.batch([{"type": "person", "action": "identify", "identifiers": {"id": "a"}}])
    client.close()
