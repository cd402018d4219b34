"""Activities and change history over HTTP: events and changes newest first, diffs, filters, pages."""

from __future__ import annotations

from fastapi.testclient import TestClient
from test_reads_support import SHOP_CONTRACT, apply, set_contract, walk

from relata.bootstrap import Runtime
from relata.core.clock import FakeClock
from relata.core.identity import ObjectRef, PersonRef
from relata.core.operations import (
    AddDevice,
    IdentifyObject,
    IdentifyPerson,
    Link,
    MergePeople,
    ObjectLinks,
    PersonLinks,
    TrackEvent,
)
from relata.storage.workspaces import Credentials

U1 = PersonRef("id", "u1")


def story(runtime: Runtime, workspace: Credentials, clock: FakeClock) -> None:
    """A minute apart: identify, event, cart added, attribute change, cart removed, page, merge, device."""
    steps = [
        [IdentifyPerson(U1, {"first_name": "Ann"})],
        [TrackEvent(U1, None, "viewed", {"sku": "A"})],
        [PersonLinks(U1, (Link(ObjectRef("cart", "c1"), {"role": "owner"}),))],
        [IdentifyPerson(U1, {"first_name": "Anne", "plan": "gold"})],
        [PersonLinks(U1, (Link(ObjectRef("cart", "c1")),), remove=True)],
        [TrackEvent(U1, None, "/home", {}, type="page")],
        [
            IdentifyPerson(PersonRef("id", "u2"), {"city": "Oslo"}),
            TrackEvent(PersonRef("id", "u2"), None, "old_event", {}, timestamp=clock.now() - 86_400_000),
        ],
        [MergePeople(U1, PersonRef("id", "u2"))],
        [AddDevice(U1, "tok", "ios")],
    ]
    for ops in steps:
        apply(runtime, workspace, ops)
        clock.advance(60_000)


def test_activities_newest_first_with_types(
    client: TestClient,
    runtime: Runtime,
    workspace: Credentials,
    app_headers: dict[str, str],
    clock: FakeClock,
) -> None:
    set_contract(runtime, workspace, SHOP_CONTRACT)
    start = clock.now() // 1000
    story(runtime, workspace, clock)
    response = client.get("/v1/customers/u1/activities", headers=app_headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["next"] is None
    acts = body["activities"]
    assert [(a["type"], a["name"]) for a in acts] == [
        ("device_change", None),
        ("merge", None),
        ("page", "/home"),
        ("delete_relationship", "cart"),
        ("attribute_change", None),
        ("add_relationship", "cart"),
        ("event", "viewed"),
        ("attribute_change", "first_name"),
        ("created", None),
        # u2's event, moved over by the merge, keeps its own (older) timestamp
        ("event", "old_event"),
    ]
    timestamps = [a["timestamp"] for a in acts]
    assert timestamps == sorted(timestamps, reverse=True)
    assert acts[-2]["timestamp"] == start
    assert all(a["customer_id"] == "u1" and a["customer_identifiers"]["id"] == "u1" for a in acts)
    change = acts[4]
    assert change["diff"] == {
        "first_name": {"from": "Ann", "to": "Anne"},
        "plan": {"from": None, "to": "gold"},
    }
    assert acts[5]["diff"] == {"role": {"from": None, "to": "owner"}}
    assert acts[5]["data"] == {"type": "cart", "object_id": "c1"}
    assert acts[1]["diff"] == {"city": {"from": None, "to": "Oslo"}}
    assert acts[1]["data"]["secondary"]["id"] == "u2"
    assert acts[6]["data"] == {"sku": "A"}
    assert len({a["id"] for a in acts}) == len(acts)

    for kind, expected in [
        ("event", ["viewed", "old_event"]),
        ("page", ["/home"]),
        ("add_relationship", ["cart"]),
        ("delete_relationship", ["cart"]),
        ("merge", [None]),
        ("device_change", [None]),
    ]:
        filtered = client.get("/v1/customers/u1/activities", params={"type": kind}, headers=app_headers)
        assert filtered.status_code == 200, filtered.text
        assert [a["name"] for a in filtered.json()["activities"]] == expected, kind
        assert {a["type"] for a in filtered.json()["activities"]} == {kind}

    bad = client.get("/v1/customers/u1/activities", params={"type": "nope"}, headers=app_headers)
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "type"


def test_anonymous_activity_is_adopted(
    client: TestClient,
    runtime: Runtime,
    workspace: Credentials,
    app_headers: dict[str, str],
    clock: FakeClock,
) -> None:
    apply(runtime, workspace, [TrackEvent(None, "anon-1", "browsed", {"page": 1})])
    clock.advance(1000)
    apply(runtime, workspace, [IdentifyPerson(U1, {"first_name": "Ann"}, anonymous_id="anon-1")])
    acts = client.get("/v1/customers/u1/activities", headers=app_headers).json()["activities"]
    assert [a["type"] for a in acts] == ["anon_merge", "attribute_change", "created", "event"]
    assert acts[0]["data"]["anonymous_id"] == "anon-1"
    assert acts[3]["name"] == "browsed"
    assert acts[3]["data"] == {"page": 1}


def test_activity_pages_have_no_gaps_or_duplicates(
    client: TestClient,
    runtime: Runtime,
    workspace: Credentials,
    app_headers: dict[str, str],
    clock: FakeClock,
) -> None:
    # Events sharing timestamps with each other and with changes, to exercise the tie-breaks.
    ops = []
    for i in range(23):
        ops.append(TrackEvent(U1, None, f"e{i}", {}, timestamp=clock.now() - (i % 3) * 1000))
        ops.append(IdentifyPerson(U1, {f"a{i}": i}))
    apply(runtime, workspace, ops)
    everything = client.get("/v1/customers/u1/activities", params={"limit": 1000}, headers=app_headers).json()
    assert everything["next"] is None
    for limit in (1, 4, 7, 50):
        paged = walk(client, "/v1/customers/u1/activities", app_headers, "activities", limit)
        assert [a["id"] for a in paged] == [a["id"] for a in everything["activities"]], limit
    assert len(everything["activities"]) == 23 + 23 + 1


def test_person_changes_with_diffs(
    client: TestClient,
    runtime: Runtime,
    workspace: Credentials,
    app_headers: dict[str, str],
    clock: FakeClock,
) -> None:
    story(runtime, workspace, clock)
    changes = walk(client, "/v1/people/u1/changes", app_headers, "changes", 2)
    seqs = [c["seq"] for c in changes]
    assert seqs == sorted(seqs, reverse=True)
    assert len(set(seqs)) == len(seqs)
    ops = [c["op"] for c in changes]
    assert ops[-1] == "create"
    update = next(c for c in changes if c["op"] == "update" and "plan" in c["diff"])
    assert update["diff"] == {
        "first_name": {"from": "Ann", "to": "Anne"},
        "plan": {"from": None, "to": "gold"},
    }
    added = next(c for c in changes if c["op"] == "relationship_add")
    assert added["counterpart"] == {"role": "object", "identifiers": {"type": "cart", "object_id": "c1"}}
    assert "relationship_remove" in ops
    assert "merge" in ops
    assert "event" in ops
    assert update["entity"] == "person"


def test_object_changes_include_links_both_ways(
    client: TestClient,
    runtime: Runtime,
    workspace: Credentials,
    app_headers: dict[str, str],
    clock: FakeClock,
) -> None:
    apply(runtime, workspace, [IdentifyObject(ObjectRef("cart", "c1"), {"status": "active"})])
    clock.advance(1000)
    apply(
        runtime,
        workspace,
        [
            IdentifyObject(ObjectRef("cart", "c1"), {"status": "converted"}),
            PersonLinks(U1, (Link(ObjectRef("cart", "c1"), {"role": "owner"}),)),
            ObjectLinks(ObjectRef("cart", "c1"), (Link(ObjectRef("cart_item", "i1")),)),
            ObjectLinks(ObjectRef("order", "o1"), (Link(ObjectRef("cart", "c1")),)),
        ],
    )
    changes = walk(client, "/v1/objects/cart/c1/changes", app_headers, "changes", 2)
    by_op = [(c["op"], c["counterpart"]["role"] if c["counterpart"] else None) for c in changes]
    assert by_op == [
        ("relationship_add", "parent"),
        ("relationship_add", "child"),
        ("relationship_add", "person"),
        ("update", None),
        ("create", None),
    ]
    assert changes[0]["counterpart"]["identifiers"]["object_id"] == "o1"
    assert changes[0]["counterpart"]["identifiers"]["type"] == "order"
    assert changes[1]["counterpart"]["identifiers"] == {"type": "cart_item", "object_id": "i1"}
    assert changes[2]["counterpart"]["identifiers"]["id"] == "u1"
    assert changes[3]["diff"] == {"status": {"from": "active", "to": "converted"}}
    assert changes[4]["diff"] == {"status": {"from": None, "to": "active"}}
    assert changes[4]["at"] == changes[3]["at"] - 1


def test_people_search_by_prefix(
    client: TestClient, runtime: Runtime, workspace: Credentials, app_headers: dict[str, str]
) -> None:
    apply(
        runtime,
        workspace,
        [IdentifyPerson(PersonRef("id", f"user_{i}"), {"email": f"Person{i}@example.com"}) for i in range(12)]
        + [IdentifyPerson(PersonRef("id", "other"), {"email": "x_y@example.com"})],
    )
    everyone = walk(client, "/v1/people", app_headers, "people", 5)
    assert len(everyone) == 13
    assert len({p["cio_id"] for p in everyone}) == 13
    ones = client.get("/v1/people", params={"id": "user_1"}, headers=app_headers).json()["people"]
    assert sorted(p["id"] for p in ones) == ["user_1", "user_10", "user_11"]
    by_email = client.get("/v1/people", params={"email": "PERSON1"}, headers=app_headers).json()["people"]
    assert sorted(p["id"] for p in by_email) == ["user_1", "user_10", "user_11"]
    # LIKE wildcards in the prefix are literal characters.
    assert client.get("/v1/people", params={"email": "x%"}, headers=app_headers).json()["people"] == []
    assert client.get("/v1/people", params={"email": "person_"}, headers=app_headers).json()["people"] == []
    exact = client.get("/v1/people", params={"email": "x_y@"}, headers=app_headers).json()["people"]
    assert [p["id"] for p in exact] == ["other"]
