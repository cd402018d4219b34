"""Customer.io-compatible App API reads over HTTP: object types, object search, attributes, relationships."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from test_reads_support import SHOP_CONTRACT, apply, set_contract, shop, walk

from relata.bootstrap import Runtime
from relata.core.clock import FakeClock
from relata.core.identity import ObjectRef, PersonRef
from relata.core.operations import AddDevice, IdentifyObject, IdentifyPerson, Link
from relata.storage.workspaces import Credentials


def test_object_types_with_counts(
    client: TestClient, runtime: Runtime, workspace: Credentials, app_headers: dict[str, str]
) -> None:
    set_contract(runtime, workspace, SHOP_CONTRACT)
    shop(runtime, workspace, carts=2, items=1)
    apply(runtime, workspace, [IdentifyObject(ObjectRef("7", "x"), {"a": 1})])
    response = client.get("/v1/object_types", headers=app_headers)
    assert response.status_code == 200, response.text
    types = {t["name"]: t for t in response.json()["types"]}
    assert types["cart"] == {"id": "1", "name": "cart", "object_count": 2, "enabled": True}
    assert types["cart_item"]["object_count"] == 2
    assert types["variant"]["object_count"] == 2
    assert types["type_7"]["id"] == "7"
    assert types["type_7"]["object_count"] == 1


def find(client: TestClient, headers: dict[str, str], body: Any, **params: Any) -> Any:
    return client.post("/v1/objects", json=body, params=params, headers=headers)


@pytest.fixture
def carts(runtime: Runtime, workspace: Credentials) -> None:
    rows = [
        ("c1", {"status": "active", "total": 42, "gift": True, "name": "acme corp"}),
        ("c2", {"status": "active", "total": 42.5, "gift": False}),
        ("c3", {"status": "abandoned", "total": "42"}),
        ("c4", {"status": "converted"}),
    ]
    apply(runtime, workspace, [IdentifyObject(ObjectRef("cart", oid), attrs) for oid, attrs in rows])


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (None, ["c1", "c2", "c3", "c4"]),
        ({}, ["c1", "c2", "c3", "c4"]),
        ({"object_attribute": {"field": "status", "operator": "eq", "value": "active"}}, ["c1", "c2"]),
        ({"and": [{"object_attribute": {"field": "total", "operator": "exists"}}]}, ["c1", "c2", "c3"]),
        # Customer.io sends values as strings: "42" matches the number 42 and the string "42".
        ({"and": [{"object_attribute": {"field": "total", "operator": "eq", "value": "42"}}]}, ["c1", "c3"]),
        ({"object_attribute": {"field": "total", "operator": "eq", "value": 42.5}}, ["c2"]),
        ({"object_attribute": {"field": "gift", "operator": "eq", "value": "true"}}, ["c1"]),
        ({"object_attribute": {"field": "gift", "operator": "eq", "value": False}}, ["c2"]),
        (
            {
                "or": [
                    {"object_attribute": {"field": "status", "operator": "eq", "value": "converted"}},
                    {"object_attribute": {"field": "status", "operator": "eq", "value": "abandoned"}},
                ]
            },
            ["c3", "c4"],
        ),
        (
            {
                "and": [
                    {"object_attribute": {"field": "status", "operator": "exists", "type_id": "1"}},
                    {"not": {"object_attribute": {"field": "name", "operator": "eq", "value": "acme corp"}}},
                ]
            },
            ["c2", "c3", "c4"],
        ),
        ({"not": {"object_attribute": {"field": "total", "operator": "exists"}}}, ["c4"]),
    ],
)
def test_find_objects_by_filter(
    client: TestClient, carts: None, app_headers: dict[str, str], flt: Any, expected: list[str]
) -> None:
    body: dict[str, Any] = {"object_type_id": "1"}
    if flt is not None:
        body["filter"] = flt
    response = find(client, app_headers, body)
    assert response.status_code == 200, response.text
    found = response.json()
    assert found["ids"] == expected
    assert [i["object_id"] for i in found["identifiers"]] == expected
    assert all(i["object_type_id"] == "1" and len(i["cio_object_id"]) == 20 for i in found["identifiers"])
    assert found["next"] is None


def test_find_objects_pages(client: TestClient, carts: None, app_headers: dict[str, str]) -> None:
    seen: list[str] = []
    start = None
    for _ in range(5):
        params: dict[str, Any] = {"limit": 3}
        if start:
            params["start"] = start  # Customer.io's name for the cursor
        body = find(client, app_headers, {"object_type_id": "cart"}, **params).json()
        seen += body["ids"]
        start = body["next"]
        if start is None:
            break
    assert seen == ["c1", "c2", "c3", "c4"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"filter": {}}, "object_type_id"),
        ({"object_type_id": "99"}, "object_type_id"),
        ({"object_type_id": "1", "filter": {"xor": []}}, "filter.xor"),
        ({"object_type_id": "1", "filter": {"and": []}}, "filter.and"),
        (
            {"object_type_id": "1", "filter": {"and": [{"object_attribute": {"operator": "eq"}}]}},
            "filter.and[0].object_attribute.field",
        ),
        (
            {
                "object_type_id": "1",
                "filter": {"object_attribute": {"field": "a", "operator": "gt", "value": 1}},
            },
            "filter.object_attribute.operator",
        ),
        (
            {"object_type_id": "1", "filter": {"object_attribute": {"field": "a", "operator": "eq"}}},
            "filter.object_attribute.value",
        ),
        (
            {
                "object_type_id": "1",
                "filter": {"object_attribute": {"field": "a", "operator": "exists", "type_id": "2"}},
            },
            "filter.object_attribute.type_id",
        ),
        (
            {"object_type_id": "1", "filter": {"object_attribute": {"field": 'a"b', "operator": "exists"}}},
            "filter.object_attribute.field",
        ),
        ({"object_type_id": "1", "filter": [1]}, "filter"),
        ([1], "body"),
    ],
)
def test_find_objects_bad_bodies(
    client: TestClient, carts: None, app_headers: dict[str, str], body: Any, field: str
) -> None:
    response = find(client, app_headers, body)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["field"] == field


def test_find_objects_rejects_malformed_json(
    client: TestClient, carts: None, app_headers: dict[str, str]
) -> None:
    response = client.post("/v1/objects", content=b"{nope", headers=app_headers)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "body"


def test_object_attributes_with_timestamps(
    client: TestClient,
    runtime: Runtime,
    workspace: Credentials,
    app_headers: dict[str, str],
    clock: FakeClock,
) -> None:
    apply(runtime, workspace, [IdentifyObject(ObjectRef("cart", "c1"), {"status": "active", "total": 5})])
    clock.advance(10_000)
    apply(runtime, workspace, [IdentifyObject(ObjectRef("cart", "c1"), {"total": 6, "status": None})])
    for path, params in [("/v1/objects/cart/c1/attributes", {}), ("/v1/objects/1/c1/attributes", {})]:
        response = client.get(path, params=params, headers=app_headers)
        assert response.status_code == 200, response.text
        obj = response.json()["object"]
        assert obj["attributes"] == {"total": 6}
        assert obj["timestamps"] == {"total": clock.now() // 1000}  # removed attributes have no timestamp
        assert obj["identifiers"]["object_id"] == "c1"
        assert obj["identifiers"]["object_type_id"] == "1"
        assert obj["type"] == "cart"
    cio = obj["identifiers"]["cio_object_id"]
    by_cio = client.get(
        f"/v1/objects/1/{cio}/attributes", params={"id_type": "cio_object_id"}, headers=app_headers
    )
    assert by_cio.json()["object"]["identifiers"]["object_id"] == "c1"
    assert client.get("/v1/objects/1/nope/attributes", headers=app_headers).status_code == 404
    assert client.get("/v1/objects/9/c1/attributes", headers=app_headers).status_code == 404


def test_object_relationships_both_directions(
    client: TestClient, runtime: Runtime, workspace: Credentials, app_headers: dict[str, str]
) -> None:
    set_contract(runtime, workspace, SHOP_CONTRACT)
    shop(runtime, workspace, carts=1, items=2)
    apply(
        runtime,
        workspace,
        [
            IdentifyObject(
                ObjectRef("cart", "cart_0"), {}, links=(Link(PersonRef("id", "u2"), {"role": "guest"}),)
            )
        ],
    )
    items = walk(client, "/v1/objects/cart/cart_0/relationships", app_headers, "cio_relationships", 1)
    assert [(r["kind"], r["relationship"]) for r in items] == [
        ("person", "shoppers"),
        ("person", "shoppers"),
        ("child", "items"),
        ("child", "items"),
    ]
    assert [r["identifiers"].get("id") for r in items[:2]] == ["u1", "u2"]
    assert [r["relationship_attributes"] for r in items[:2]] == [{"role": "owner"}, {"role": "guest"}]
    assert [r["identifiers"]["object_id"] for r in items[2:]] == ["cart_0_item_0", "cart_0_item_1"]
    assert items[2]["type"] == "cart_item"

    item = client.get("/v1/objects/cart_item/cart_0_item_0/relationships", headers=app_headers).json()
    assert [
        (r["kind"], r["relationship"], r["identifiers"]["object_id"]) for r in item["cio_relationships"]
    ] == [
        ("parent", "cart", "cart_0"),
        ("child", "product", "sku_0_0"),
    ]
    assert item["next"] is None


def test_customer_attributes_and_id_types(
    client: TestClient,
    runtime: Runtime,
    workspace: Credentials,
    app_headers: dict[str, str],
    clock: FakeClock,
) -> None:
    apply(
        runtime,
        workspace,
        [
            IdentifyPerson(
                PersonRef("id", "u1"), {"email": "Ann@Example.com", "plan": "gold", "unsubscribed": True}
            ),
            AddDevice(PersonRef("id", "u1"), "tok", "android", None, {"app_version": "2"}),
        ],
    )
    now = clock.now() // 1000
    response = client.get("/v1/customers/u1/attributes", headers=app_headers)
    assert response.status_code == 200, response.text
    customer = response.json()["customer"]
    assert customer["id"] == "u1"
    cio_id = customer["cio_id"]
    assert customer["identifiers"] == {"id": "u1", "email": "Ann@Example.com", "cio_id": cio_id}
    assert customer["attributes"]["plan"] == "gold"
    assert customer["attributes"]["id"] == "u1"
    assert customer["attributes"]["cio_id"] == cio_id
    assert customer["timestamps"]["plan"] == now
    assert customer["unsubscribed"] is True
    assert customer["devices"] == [
        {"id": "tok", "platform": "android", "last_used": None, "attributes": {"app_version": "2"}}
    ]

    for identifier, id_type in [
        ("ann@example.com", "email"),
        (cio_id, "cio_id"),
        (f"cio_{cio_id}", "cio_id"),
    ]:
        other = client.get(
            f"/v1/customers/{identifier}/attributes", params={"id_type": id_type}, headers=app_headers
        )
        assert other.status_code == 200, (identifier, other.text)
        assert other.json()["customer"]["id"] == "u1"
    # Without id_type the identifier is an id, as in Customer.io.
    assert client.get("/v1/customers/ann@example.com/attributes", headers=app_headers).status_code == 404
    bad = client.get("/v1/customers/u1/attributes", params={"id_type": "phone"}, headers=app_headers)
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "id_type"


def test_customer_relationships_messages_segments(
    client: TestClient, runtime: Runtime, workspace: Credentials, app_headers: dict[str, str]
) -> None:
    set_contract(runtime, workspace, SHOP_CONTRACT)
    shop(runtime, workspace, carts=3, items=0)
    rels = walk(client, "/v1/customers/u1/relationships", app_headers, "cio_relationships", 2)
    assert [r["object_id"] for r in rels] == ["cart_0", "cart_1", "cart_2"]
    assert {r["relationship"] for r in rels} == {"carts"}
    assert rels[0]["identifiers"]["object_type_id"] == "1"
    assert rels[0]["type"] == "cart"
    assert rels[0]["relationship_attributes"] == {"role": "owner"}
    assert set(rels[0]["relationship_timestamps"]) == {"role"}

    messages = client.get("/v1/customers/u1/messages", headers=app_headers)
    assert messages.status_code == 200
    assert messages.json() == {"messages": [], "next": None}
    segments = client.get("/v1/customers/u1/segments", headers=app_headers)
    assert segments.json() == {"segments": []}
    for path in ("relationships", "messages", "segments", "activities", "attributes"):
        assert client.get(f"/v1/customers/nobody/{path}", headers=app_headers).status_code == 404


def test_openapi_documents_the_reads(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for path, method in [
        ("/v1/object_types", "get"),
        ("/v1/objects", "post"),
        ("/v1/objects/{type_ref}/{object_id}/attributes", "get"),
        ("/v1/objects/{type_ref}/{object_id}/relationships", "get"),
        ("/v1/customers/{identifier}/attributes", "get"),
        ("/v1/customers/{identifier}/activities", "get"),
        ("/v1/people/{identifier}/profile", "get"),
        ("/v1/people", "get"),
        ("/v1/objects/{type_ref}/{object_id}/changes", "get"),
    ]:
        operation = paths[path][method]
        assert "app" in operation["tags"]
        assert "$ref" in operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert "requestBody" in paths["/v1/objects"]["post"]
    assert "NodeOut" in spec["components"]["schemas"]
