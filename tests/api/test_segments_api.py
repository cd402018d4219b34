"""Segments over the App API and Track v1: CRUD, validation errors, preview, members, history, manual
members by JSON, CSV and Track v1, a person's segments — on both databases."""

from __future__ import annotations

from fastapi.testclient import TestClient
from tests.services.test_segments_support import (
    ACTIVE_CART_OVER_100,
    apply,
    identify,
    install_contract,
    link,
    obj,
    settle,
)

from relata.bootstrap import Runtime
from relata.storage.workspaces import Credentials

VIP = {"attribute": {"field": "vip", "operator": "eq", "value": True}}


def test_crud_and_versions(client: TestClient, app_headers: dict[str, str], runtime: Runtime) -> None:
    created = client.post(
        "/v1/segments", json={"id": "vip", "name": "VIPs", "condition": VIP}, headers=app_headers
    )
    assert created.status_code == 201, created.text
    assert created.json()["segment"]["kind"] == "dynamic"
    assert created.json()["segment"]["version"] == 1
    again = client.post("/v1/segments", json={"id": "vip", "condition": VIP}, headers=app_headers)
    assert again.status_code == 400
    assert again.json()["errors"][0]["field"] == "id"
    changed = {"name": "VIPs", "condition": {"attribute": {"field": "vip", "operator": "exists"}}}
    put = client.put("/v1/segments/vip", json=changed, headers=app_headers)
    assert put.status_code == 200 and put.json()["created"] is False
    got = client.get("/v1/segments/vip", headers=app_headers).json()["segment"]
    assert got["version"] == 2 and [v["version"] for v in got["versions"]] == [1, 2]
    assert got["condition"] == {"attribute": {"field": "vip", "operator": "exists"}}
    listed = client.get("/v1/segments", headers=app_headers).json()["segments"]
    assert [s["id"] for s in listed] == ["vip"]
    assert client.delete("/v1/segments/vip", headers=app_headers).status_code == 200
    assert client.get("/v1/segments/vip", headers=app_headers).status_code == 404
    assert client.get("/v1/segments", headers=app_headers).json()["segments"] == []


def test_validation_errors_name_the_field(
    client: TestClient, app_headers: dict[str, str], runtime: Runtime, workspace: Credentials
) -> None:
    install_contract(runtime, workspace.workspace.id)
    cases = [
        ({"id": "Bad Slug", "condition": VIP}, "id"),
        (
            {"id": "x", "condition": {"attribute": {"field": "vip", "operator": "gtt", "value": 1}}},
            "condition.attribute.operator",
        ),
        ({"id": "x", "condition": {"related": {"via": "wishlists"}}}, "condition.related.via"),
        (
            {
                "id": "x",
                "condition": {
                    "related": {
                        "via": "carts",
                        "where": {"attribute": {"field": "colour", "operator": "exists"}},
                    }
                },
            },
            "condition.related.where.attribute.field",
        ),
        ({"id": "x", "condition": {"segment": {"id": "nope"}}}, "condition.segment.id"),
        ({"id": "x", "kind": "dynamic"}, "condition"),
        ({"id": "x", "kind": "manual", "condition": VIP}, "condition"),
        ({"id": "x", "colour": "red"}, "colour"),
    ]
    for body, field in cases:
        response = client.post("/v1/segments", json=body, headers=app_headers)
        assert response.status_code == 400, (body, response.text)
        error = response.json()["errors"][0]
        assert error["field"] == field, (body, error)
    unknown = client.post(
        "/v1/segments", json={"id": "x", "condition": {"related": {"via": "wishlists"}}}, headers=app_headers
    )
    assert "wishlists" in unknown.json()["errors"][0]["message"]
    assert client.post("/v1/segments", content=b"{", headers=app_headers).status_code == 400
    assert client.get("/v1/segments").status_code == 401


def test_cycles_are_refused(client: TestClient, app_headers: dict[str, str]) -> None:
    assert (
        client.post("/v1/segments", json={"id": "a", "condition": VIP}, headers=app_headers).status_code
        == 201
    )
    b = {"id": "b", "condition": {"segment": {"id": "a"}}}
    assert client.post("/v1/segments", json=b, headers=app_headers).status_code == 201
    cyclic = client.put("/v1/segments/a", json={"condition": {"segment": {"id": "b"}}}, headers=app_headers)
    assert cyclic.status_code == 400
    assert "cycle" in cyclic.json()["errors"][0]["message"]
    in_use = client.delete("/v1/segments/a", headers=app_headers)
    assert in_use.status_code == 400


def test_preview_members_history_and_person_segments(
    client: TestClient, app_headers: dict[str, str], runtime: Runtime, workspace: Credentials
) -> None:
    ws = workspace.workspace.id
    install_contract(runtime, ws)
    apply(runtime, ws, *(identify(f"p{i}") for i in range(5)))
    for i in range(3):
        apply(
            runtime, ws, obj("cart", f"c{i}", status="active", cart_total=200), link(f"p{i}", "cart", f"c{i}")
        )
    preview = client.post(
        "/v1/segments/preview", json={"condition": ACTIVE_CART_OVER_100}, headers=app_headers
    )
    assert preview.status_code == 200, preview.text
    assert preview.json()["count"] == 3
    assert sorted(p["id"] for p in preview.json()["sample"]) == ["p0", "p1", "p2"]
    bad = client.post("/v1/segments/preview", json={"condition": {"and": []}}, headers=app_headers)
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "condition.and"
    client.post(
        "/v1/segments", json={"id": "big-cart", "condition": ACTIVE_CART_OVER_100}, headers=app_headers
    )
    settle(runtime)
    first = client.get("/v1/segments/big-cart/members?limit=2", headers=app_headers).json()
    assert [m["id"] for m in first["members"]] == ["p0", "p1"]
    second = client.get(
        f"/v1/segments/big-cart/members?limit=2&cursor={first['next']}", headers=app_headers
    ).json()
    assert [m["id"] for m in second["members"]] == ["p2"] and second["next"] is None
    assert client.get("/v1/segments/big-cart/members?cursor=zzz", headers=app_headers).status_code == 400
    apply(runtime, ws, obj("cart", "c0", cart_total=10))
    settle(runtime)
    history = client.get("/v1/segments/big-cart/history", headers=app_headers).json()["history"]
    assert history[0]["action"] == "exited" and history[0]["cause"]["op"] == "update"
    assert {h["cause"].get("kind") for h in history[1:]} == {"refresh"}
    assert client.get("/v1/people/p1/segments", headers=app_headers).json()["segments"][0]["id"] == "big-cart"
    assert client.get("/v1/people/p0/segments", headers=app_headers).json()["segments"] == []
    assert client.get("/v1/people/nobody/segments", headers=app_headers).status_code == 404
    assert client.get("/v1/segments/big-cart", headers=app_headers).json()["segment"]["members"] == 2


def test_manual_segment_by_json_csv_and_track_v1(
    client: TestClient,
    app_headers: dict[str, str],
    track_auth: tuple[str, str],
    runtime: Runtime,
    workspace: Credentials,
) -> None:
    ws = workspace.workspace.id
    apply(runtime, ws, identify("ann", email="ann@example.com"), identify("bob"))
    created = client.post("/v1/segments", json={"id": "beta", "name": "Beta testers"}, headers=app_headers)
    assert created.json()["segment"]["kind"] == "manual"
    added = client.post("/v1/segments/beta/members", json={"ids": ["ann", "bob"]}, headers=app_headers)
    assert added.status_code == 200 and added.json()["changed"] == 2
    removed = client.request(
        "DELETE",
        "/v1/segments/beta/members?id_type=email",
        json={"ids": ["ANN@example.com"]},
        headers=app_headers,
    )
    assert removed.json() == {"changed": 1, "unchanged": 0, "unknown": []}
    csv = b"email,name\nann@example.com,Ann\nnew@example.com,New\n"
    uploaded = client.post(
        "/v1/segments/beta/members", content=csv, headers={**app_headers, "content-type": "text/csv"}
    )
    assert (
        uploaded.status_code == 200 and uploaded.json()["changed"] == 2
    )  # new@ is created, as Customer.io does
    members = client.get("/v1/segments/beta/members", headers=app_headers).json()["members"]
    assert sorted(m["email"] or m["id"] for m in members) == ["ann@example.com", "bob", "new@example.com"]
    bad_csv = client.post(
        "/v1/segments/beta/members", content=b"name\nx\n", headers={**app_headers, "content-type": "text/csv"}
    )
    assert bad_csv.status_code == 400 and bad_csv.json()["errors"][0]["field"] == "body"
    # Track v1, as Customer.io's clients call it; the segment may be named by its number too
    number = created.json()["segment"]["number"]
    response = client.post(
        f"/api/v1/segments/{number}/remove_customers", json={"ids": ["bob"]}, auth=track_auth
    )
    assert response.status_code == 200 and response.json() == {}
    response = client.post(
        "/api/v1/segments/beta/add_customers?id_type=email",
        json={"ids": ["carl@example.com"]},
        auth=track_auth,
    )
    assert response.status_code == 200
    bad = client.post("/api/v1/segments/beta/add_customers", json={"ids": []}, auth=track_auth)
    assert bad.status_code == 400 and bad.json() == {
        "meta": {"errors": ["ids: must be a non-empty list of identifiers"]}
    }
    missing = client.post("/api/v1/segments/nope/add_customers", json={"ids": ["x"]}, auth=track_auth)
    assert missing.status_code == 404
    members = client.get("/v1/segments/beta/members", headers=app_headers).json()["members"]
    assert sorted(m["email"] or m["id"] for m in members) == [
        "ann@example.com",
        "carl@example.com",
        "new@example.com",
    ]
    history = client.get("/v1/segments/beta/history", headers=app_headers).json()["history"]
    assert history[0]["cause"] == {"kind": "manual", "source": "track"}
    # dynamic segments take no members
    client.post("/v1/segments", json={"id": "vip", "condition": VIP}, headers=app_headers)
    refused = client.post("/v1/segments/vip/members", json={"ids": ["ann"]}, headers=app_headers)
    assert refused.status_code == 400 and refused.json()["errors"][0]["field"] == "segment"


def test_other_workspaces_cannot_see_segments(
    client: TestClient, app_headers: dict[str, str], runtime: Runtime
) -> None:
    other = runtime.services.workspaces.create("other")
    other_headers = {"Authorization": f"Bearer {other.app_api_key}"}
    client.post("/v1/segments", json={"id": "vip", "condition": VIP}, headers=app_headers)
    assert client.get("/v1/segments/vip", headers=other_headers).status_code == 404
    assert client.get("/v1/segments", headers=other_headers).json()["segments"] == []
    number = client.get("/v1/segments/vip", headers=app_headers).json()["segment"]["number"]
    assert client.get(f"/v1/segments/{number}", headers=other_headers).status_code == 404
