"""Profiles and object views over HTTP: expansion depth, contract names, timestamps, query counts."""

from __future__ import annotations

from fastapi.testclient import TestClient
from test_reads_support import SHOP_CONTRACT, apply, count_statements, set_contract, shop

from relata.bootstrap import Runtime
from relata.core.clock import FakeClock
from relata.core.identity import ObjectRef, PersonRef
from relata.core.operations import AddDevice, IdentifyObject, IdentifyPerson, Link, PersonLinks
from relata.storage.workspaces import Credentials


def profile(client: TestClient, headers: dict[str, str], expand: int, who: str = "u1") -> dict:
    response = client.get(f"/v1/people/{who}/profile", params={"expand": expand}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["person"]


def test_profile_expands_person_carts_items_products(
    client: TestClient, runtime: Runtime, workspace: Credentials, app_headers: dict[str, str]
) -> None:
    set_contract(runtime, workspace, SHOP_CONTRACT)
    shop(runtime, workspace, carts=1, items=2)

    zero = profile(client, app_headers, 0)
    assert zero["identifiers"]["id"] == "u1"
    assert zero["identifiers"]["email"] == "ann@example.com"
    assert zero["attributes"]["first_name"] == "Ann"
    assert zero["related"] is None

    one = profile(client, app_headers, 1)
    assert list(one["related"]) == ["carts"]
    (cart,) = one["related"]["carts"]
    assert (cart["type"], cart["object_type_id"], cart["object_id"]) == ("cart", "1", "cart_0")
    assert cart["attributes"] == {"status": "active", "cart_total": 10}
    assert cart["relationship_attributes"] == {"role": "owner"}
    assert len(cart["cio_object_id"]) == 20
    assert cart["related"] is None

    two = profile(client, app_headers, 2)
    items = two["related"]["carts"][0]["related"]["items"]
    assert [i["object_id"] for i in items] == ["cart_0_item_0", "cart_0_item_1"]
    assert [i["relationship_attributes"] for i in items] == [{"position": 0}, {"position": 1}]
    assert all(i["related"] is None for i in items)

    three = profile(client, app_headers, 3)
    items = three["related"]["carts"][0]["related"]["items"]
    products = [i["related"]["product"] for i in items]
    assert [[p["object_id"] for p in ps] for ps in products] == [["sku_0_0"], ["sku_0_1"]]
    assert products[0][0]["relationship_attributes"] == {"source": "catalog"}
    assert products[0][0]["attributes"] == {"name": "Product 0.0"}
    assert products[0][0]["related"] is None

    four = profile(client, app_headers, 4)
    product = four["related"]["carts"][0]["related"]["items"][0]["related"]["product"][0]
    # product → variant is not in the contract: named by the type.
    assert [v["object_id"] for v in product["related"]["variant"]] == ["sku_0_0_v"]


def test_profile_without_contract_uses_type_names(
    client: TestClient, runtime: Runtime, workspace: Credentials, app_headers: dict[str, str]
) -> None:
    shop(runtime, workspace, carts=1, items=1)
    person = profile(client, app_headers, 2)
    assert list(person["related"]) == ["cart"]
    assert list(person["related"]["cart"][0]["related"]) == ["cart_item"]


def test_profile_identity_devices_anonymous_ids_and_timestamps(
    client: TestClient,
    runtime: Runtime,
    workspace: Credentials,
    app_headers: dict[str, str],
    clock: FakeClock,
) -> None:
    apply(
        runtime,
        workspace,
        [IdentifyPerson(PersonRef("id", "u1"), {"first_name": "Ann"}, anonymous_id="anon-1")],
    )
    first = clock.now() // 1000
    clock.advance(60_000)
    apply(
        runtime,
        workspace,
        [
            IdentifyPerson(PersonRef("id", "u1"), {"plan": "gold"}),
            AddDevice(PersonRef("id", "u1"), "tok-1", "ios", clock.now()),
            # An older write does not overwrite, and its timestamp does not replace the newer one.
            IdentifyPerson(PersonRef("id", "u1"), {"first_name": "Old"}, timestamp=clock.now() - 3_600_000),
        ],
    )
    person = profile(client, app_headers, 0)
    assert person["attributes"]["first_name"] == "Ann"
    assert person["timestamps"]["first_name"] == first
    assert person["timestamps"]["plan"] == first + 60
    assert person["anonymous_ids"] == ["anon-1"]
    assert person["devices"] == [
        {"id": "tok-1", "platform": "ios", "last_used": first + 60, "attributes": {}}
    ]

    by_email = client.get("/v1/people/cio_" + person["cio_id"] + "/profile", headers=app_headers)
    assert by_email.status_code == 200
    assert by_email.json()["person"]["id"] == "u1"


def test_profile_cycles_end(
    client: TestClient, runtime: Runtime, workspace: Credentials, app_headers: dict[str, str]
) -> None:
    apply(
        runtime,
        workspace,
        [
            PersonLinks(PersonRef("id", "u1"), (Link(ObjectRef("node", "a")),)),
            IdentifyObject(ObjectRef("node", "a"), {}, links=(Link(ObjectRef("node", "b")),)),
            IdentifyObject(ObjectRef("node", "b"), {}, links=(Link(ObjectRef("node", "a")),)),
        ],
    )
    person = profile(client, app_headers, 5)
    a = person["related"]["node"][0]
    b = a["related"]["node"][0]
    again = b["related"]["node"][0]
    assert (a["object_id"], b["object_id"], again["object_id"]) == ("a", "b", "a")
    assert again["related"] is None  # a is already on the path: shown, not expanded again


def test_profile_loads_one_query_per_level(
    client: TestClient, runtime: Runtime, workspace: Credentials, app_headers: dict[str, str]
) -> None:
    set_contract(runtime, workspace, SHOP_CONTRACT)
    shop(runtime, workspace, carts=1, items=1)
    profile(client, app_headers, 3)  # warm the key cache

    with count_statements(runtime) as small:
        profile(client, app_headers, 3)
    # Many more carts, items and products: the same number of statements.
    shop(runtime, workspace, carts=4, items=5)
    with count_statements(runtime) as large:
        person = profile(client, app_headers, 3)
    assert len(person["related"]["carts"]) == 4
    assert sum(len(c["related"]["items"]) for c in person["related"]["carts"]) == 20
    assert len(large) == len(small)
    # person, devices, anonymous ids, contract, then one statement per level (3)
    selects = [s for s in large if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 4 + 3, large

    with count_statements(runtime) as five:
        profile(client, app_headers, 5)
    assert len(five) <= len(large) + 2


def test_object_view_people_parents_children(
    client: TestClient, runtime: Runtime, workspace: Credentials, app_headers: dict[str, str]
) -> None:
    set_contract(runtime, workspace, SHOP_CONTRACT)
    shop(runtime, workspace, carts=1, items=2)
    response = client.get("/v1/objects/cart/cart_0", params={"expand": 2}, headers=app_headers)
    assert response.status_code == 200, response.text
    view = response.json()
    assert view["object"]["object_id"] == "cart_0"
    assert view["object"]["related"]["items"][0]["related"]["product"][0]["object_id"] == "sku_0_0"
    assert view["people_count"] == 1
    (shopper,) = view["people"]["shoppers"]
    assert shopper["identifiers"]["id"] == "u1"
    assert shopper["relationship_attributes"] == {"role": "owner"}
    assert view["parents"] == {}

    item = client.get("/v1/objects/2/cart_0_item_1", params={"expand": 0}, headers=app_headers).json()
    assert item["object"]["related"] is None
    assert item["parents_count"] == 1
    (cart,) = item["parents"]["cart"]
    assert cart["object_id"] == "cart_0"
    assert cart["relationship_attributes"] == {"position": 1}
    assert item["people"] == {}

    by_cio = client.get(
        f"/v1/objects/cart/{view['object']['cio_object_id']}",
        params={"id_type": "cio_object_id"},
        headers=app_headers,
    )
    assert by_cio.status_code == 200
    assert by_cio.json()["object"]["object_id"] == "cart_0"
