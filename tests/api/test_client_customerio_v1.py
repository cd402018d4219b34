"""The official ``customerio`` Python client's Track v1 calls against a live HTTPS Relata (SPEC §3.5).

The client only speaks HTTPS and builds its URLs from ``host`` and ``port``; it sends HTTP Basic
``site_id:api_key`` and raises ``CustomerIOException`` on any non-2xx answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import customerio.constants
import customerio.track
import pytest
from sqlalchemy import select

from relata.bootstrap import Runtime
from relata.core.clock import FakeClock
from relata.core.identity import PersonRef
from relata.core.model import Person
from relata.storage import activity, people
from relata.storage.links import PERSON_LINKS
from relata.storage.schema import events, suppressions
from relata.storage.workspaces import Credentials


@pytest.fixture
def cio(live_tls_server: Any, tls_ca: dict[str, str], workspace: Credentials) -> Iterator[Any]:
    client = customerio.track.CustomerIO(
        site_id=workspace.site_id,
        api_key=workspace.track_api_key,
        host="127.0.0.1",
        port=live_tls_server.port,
        retries=0,
    )
    client.http.trust_env = False  # REQUESTS_CA_BUNDLE on this machine would override verify
    client.http.verify = tls_ca["ca"]
    yield client
    client.close()


def find(runtime: Runtime, ws: Credentials, kind: str, value: str) -> Person | None:
    with runtime.services.db.read() as conn:
        return people.find(conn, ws.workspace.id, PersonRef(kind, value))  # type: ignore[arg-type]


def get(runtime: Runtime, ws: Credentials, kind: str, value: str) -> Person:
    found = find(runtime, ws, kind, value)
    assert found is not None
    return found


def test_official_client_track_v1_calls(
    cio: Any, runtime: Runtime, workspace: Credentials, clock: FakeClock
) -> None:
    ws = workspace.workspace.id

    # track_anonymous first, so that identify can adopt it.
    cio.track_anonymous("anon-7", "viewed_pricing", {"plan": "pro"})
    with runtime.services.db.read() as conn:
        (anonymous,) = conn.execute(select(events).where(events.c.anonymous_id == "anon-7")).all()
    assert (anonymous.name, anonymous.data, anonymous.person_pk) == ("viewed_pricing", {"plan": "pro"}, None)

    # identify: an id with characters that need encoding, attributes, a datetime, the anonymous id.
    joined = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    cio.identify(
        "user/1 +x",
        email="Ann@Example.com",
        first_name="Ann",
        joined_at=joined,
        anonymous_id="anon-7",
        cio_relationships=[
            {
                "identifiers": {"object_type_id": "1", "object_id": "cart_1"},
                "relationship_attributes": {"r": 1},
            }
        ],
    )
    ann = get(runtime, workspace, "id", "user/1 +x")
    assert ann.email == "Ann@Example.com"
    assert ann.attributes["first_name"] == "Ann"
    assert ann.attributes["joined_at"] == int(joined.timestamp())
    with runtime.services.db.read() as conn:
        assert [e.name for e in activity.events_of(conn, ws, ann.pk)] == ["viewed_pricing"]
        (link,) = PERSON_LINKS.of_left(conn, ws, ann.pk)
    assert dict(link.state.values) == {"r": 1}

    # track, with a dedupe id and a timestamp; the same id again is dropped.
    cio.track(
        "user/1 +x", "purchased", {"total": 12.5}, id="01J0000000000000000000000A", timestamp=1_700_000_000
    )
    cio.track("user/1 +x", "purchased", {"total": 99}, id="01J0000000000000000000000A")
    # pageview and backfill are events too.
    cio.pageview("user/1 +x", "https://shop.example/p/1", referrer="https://search.example")
    cio.backfill("user/1 +x", "old_signup", datetime(2020, 1, 1, tzinfo=UTC), source="import")
    with runtime.services.db.read() as conn:
        stored = {e.name: e for e in activity.events_of(conn, ws, ann.pk)}
    assert set(stored) == {"viewed_pricing", "purchased", "https://shop.example/p/1", "old_signup"}
    assert stored["purchased"].data == {"total": 12.5}
    assert stored["purchased"].timestamp == 1_700_000_000_000
    assert stored["purchased"].dedupe_id == "01J0000000000000000000000A"
    assert (stored["https://shop.example/p/1"].type, stored["https://shop.example/p/1"].data) == (
        "page",
        {"referrer": "https://search.example"},
    )
    assert stored["old_signup"].timestamp == 1_577_836_800_000
    assert stored["old_signup"].data == {"source": "import"}

    # add_device: extra keyword arguments land in the device; delete_device by an encoded token.
    cio.add_device("user/1 +x", "apns:token/1", "ios", last_used=1_700_000_100, app_version="2.0")
    cio.add_device("user/1 +x", "fcm-token", "android", attributes={"push_enabled": "true"})
    with runtime.services.db.read() as conn:
        devices = {d.token: d for d in activity.devices_of(conn, ann.pk)}
    assert set(devices) == {"apns:token/1", "fcm-token"}
    assert devices["apns:token/1"].platform == "ios"
    assert devices["apns:token/1"].last_used == 1_700_000_100_000
    assert devices["apns:token/1"].attributes == {"app_version": "2.0"}
    assert devices["fcm-token"].attributes == {"push_enabled": "true"}
    assert devices["fcm-token"].last_used == clock.now()
    cio.delete_device("user/1 +x", "apns:token/1")
    with runtime.services.db.read() as conn:
        assert [d.token for d in activity.devices_of(conn, ann.pk)] == ["fcm-token"]

    # merge_customers: a person known by email merges into Ann, by each identifier type.
    cio.identify("lead@example.com", city="Oslo", first_name="Lead")
    cio.track("lead@example.com", "browsed")
    cio.merge_customers(customerio.constants.ID, "user/1 +x", customerio.constants.EMAIL, "lead@example.com")
    assert find(runtime, workspace, "email", "lead@example.com") is None
    ann = get(runtime, workspace, "id", "user/1 +x")
    assert ann.attributes["city"] == "Oslo"
    assert ann.attributes["first_name"] == "Ann"
    with runtime.services.db.read() as conn:
        assert "browsed" in {e.name for e in activity.events_of(conn, ws, ann.pk)}
    cio.identify("other", x=1)
    other = get(runtime, workspace, "id", "other")
    cio.merge_customers(customerio.constants.CIOID, ann.cio_id, customerio.constants.CIOID, other.cio_id)
    assert find(runtime, workspace, "id", "other") is None
    assert get(runtime, workspace, "id", "user/1 +x").attributes["x"] == 1

    # suppress: the person is deleted and identify is ignored until unsuppress.
    cio.suppress("user/1 +x")
    assert find(runtime, workspace, "id", "user/1 +x") is None
    with runtime.services.db.read() as conn:
        blocked = {(r.kind, r.value) for r in conn.execute(select(suppressions))}
    assert ("id", "user/1 +x") in blocked
    cio.identify("user/1 +x", first_name="Again")
    assert find(runtime, workspace, "id", "user/1 +x") is None
    cio.unsuppress("user/1 +x")
    cio.identify("user/1 +x", first_name="Again")
    assert get(runtime, workspace, "id", "user/1 +x").attributes["first_name"] == "Again"

    # delete
    cio.delete("user/1 +x")
    assert find(runtime, workspace, "id", "user/1 +x") is None


def test_official_client_sees_errors(
    cio: Any, workspace: Credentials, live_tls_server: Any, tls_ca: dict[str, str]
) -> None:
    with pytest.raises(customerio.track.CustomerIOException, match=r"400.*name: is longer than 100 bytes"):
        cio.track("u1", "n" * 101)
    with pytest.raises(customerio.track.CustomerIOException, match=r"400.*anonymous_id: is required"):
        cio.track_anonymous(None, "viewed")
    wrong = customerio.track.CustomerIO(
        site_id=workspace.site_id, api_key="wrong", host="127.0.0.1", port=live_tls_server.port, retries=0
    )
    wrong.http.trust_env = False
    wrong.http.verify = tls_ca["ca"]
    with pytest.raises(customerio.track.CustomerIOException, match="401"):
        wrong.identify("u1", a=1)
    wrong.close()
