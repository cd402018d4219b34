"""The contract service on both stores: apply and type rows, dry-run diff and impact."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from relata.bootstrap import Runtime
from relata.core.errors import ValidationError
from relata.core.identity import ObjectRef, PersonRef
from relata.core.operations import IdentifyObject, Link, PersonLinks
from relata.services.contract_admin import ContractAdmin
from relata.storage import objects
from relata.storage.schema import contracts
from relata.storage.workspaces import Credentials

CART_ID = "cart_0123456789ab"


def admin_of(runtime: Runtime) -> ContractAdmin:
    s = runtime.services
    return ContractAdmin(s.db, s.clock, s.contracts, s.ingest)


def cart_contract(**extra: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "mode": "observe",
        "object_types": {
            "cart": {
                "id": "1",
                "id_pattern": "^cart_[0-9a-f]{12}$",
                "attributes": {
                    "status": {
                        "type": "enum",
                        "values": ["active", "converted", "abandoned"],
                        "required": True,
                    },
                    "cart_total": {"type": "number", "required": True},
                },
            },
            "cart_item": {"id": "2", "attributes": {"sku": {"type": "string", "required": True}}},
        },
        "relationships": [
            {"from": "person", "to": "cart", "as": "carts", "inverse": "shoppers", "exclusive": True},
            {"from": "cart", "to": "cart_item", "as": "items", "inverse": "cart"},
        ],
    }
    document.update(extra)
    return document


def type_names(runtime: Runtime, ws: int) -> dict[str, str]:
    with runtime.services.db.read() as conn:
        return {t.type_id: t.name for t in objects.types(conn, ws)}


def test_current_before_any_contract(runtime: Runtime, workspace: Credentials) -> None:
    found = admin_of(runtime).current(workspace.workspace.id)
    assert found["version"] == 0
    assert found["document"] == {}
    assert found["summary"]["mode"] == "observe"


def test_put_applies_a_version_and_creates_declared_types(runtime: Runtime, workspace: Credentials) -> None:
    ws = workspace.workspace.id
    admin = admin_of(runtime)
    result = admin.put(ws, cart_contract())
    assert result["applied"] is True
    assert result["version"] == 1
    assert {a["name"] for a in result["object_types"] if a["action"] == "create"} == {"cart", "cart_item"}
    assert type_names(runtime, ws) == {"1": "cart", "2": "cart_item"}
    again = admin.put(ws, cart_contract())
    assert again["applied"] is False
    assert again["version"] == 1
    assert admin.put(ws, cart_contract(mode="enforce"))["version"] == 2
    assert [v["version"] for v in admin.versions(ws)] == [1, 2]
    current = admin.current(ws)
    assert current["version"] == 2
    assert current["summary"]["mode"] == "enforce"
    assert current["created_at"] == runtime.services.clock.now()


def test_put_with_dry_run_applies_nothing(runtime: Runtime, workspace: Credentials) -> None:
    ws = workspace.workspace.id
    result = admin_of(runtime).put(ws, cart_contract(), dry_run=True)
    assert result["applied"] is False
    assert result["version"] is None
    assert any(c["path"] == "object_types.cart" and c["change"] == "added" for c in result["changes"])
    with runtime.services.db.read() as conn:
        assert conn.execute(select(contracts)).all() == []
    assert type_names(runtime, ws) == {}


def test_invalid_contract_names_the_path(runtime: Runtime, workspace: Credentials) -> None:
    bad = cart_contract()
    bad["object_types"]["cart"]["attributes"]["status"]["type"] = "enumm"
    with pytest.raises(ValidationError) as caught:
        admin_of(runtime).put(workspace.workspace.id, bad)
    assert caught.value.path == "object_types.cart.attributes.status.type"


def test_unknown_types_are_registered_then_renamed_by_the_contract(
    runtime: Runtime, workspace: Credentials
) -> None:
    ws = workspace.workspace.id
    ingest = runtime.services.ingest
    assert ingest.apply(ws, [IdentifyObject(ObjectRef("3", "o1"), {"total": 5})]) == []
    assert type_names(runtime, ws) == {"3": "type_3"}
    document = cart_contract()
    document["object_types"]["order"] = {"id": "3", "attributes": {"total": {"type": "number"}}}
    admin = admin_of(runtime)
    report = admin.dry_run(ws, document)
    assert {"action": "rename", "type_id": "3", "name": "order", "from": "type_3"} in report["object_types"]
    admin.put(ws, document)
    assert type_names(runtime, ws)["3"] == "order"
    # The object stayed with its type; it is now read by name.
    assert ingest.apply(ws, [IdentifyObject(ObjectRef("order", "o1"), {"total": 6})]) == []
    with runtime.services.db.read() as conn:
        order = objects.find_type(conn, ws, "order")
        assert order is not None
        stored = objects.find(conn, order, "o1")
        assert stored is not None
        assert stored.attributes["total"] == 6


def test_a_name_taken_by_another_id_is_freed(runtime: Runtime, workspace: Credentials) -> None:
    ws = workspace.workspace.id
    ingest = runtime.services.ingest
    # "cart" sent by name before any contract: registered with the next free id.
    assert ingest.apply(ws, [IdentifyObject(ObjectRef("7", "x"), {"a": 1})]) == []
    assert ingest.apply(ws, [IdentifyObject(ObjectRef("cart", CART_ID), {"status": "active"})]) == []
    assert type_names(runtime, ws) == {"7": "type_7", "8": "cart"}
    result = admin_of(runtime).put(ws, cart_contract())
    assert {"action": "rename", "type_id": "8", "name": "type_8", "from": "cart"} in result["object_types"]
    assert type_names(runtime, ws) == {"1": "cart", "2": "cart_item", "7": "type_7", "8": "type_8"}


def test_names_can_be_swapped_between_type_rows(runtime: Runtime, workspace: Credentials) -> None:
    ws = workspace.workspace.id
    admin = admin_of(runtime)
    admin.put(ws, {"object_types": {"cart": {"id": "1"}, "order": {"id": "2"}}})
    admin.put(ws, {"object_types": {"order": {"id": "1"}, "cart": {"id": "2"}}})
    assert type_names(runtime, ws) == {"1": "order", "2": "cart"}


def _store_carts(runtime: Runtime, ws: int) -> None:
    ops = [
        IdentifyObject(ObjectRef("1", CART_ID), {"status": "active", "cart_total": 10}),
        IdentifyObject(ObjectRef("1", "cart_1"), {"status": "active", "cart_total": "lots"}),
        IdentifyObject(ObjectRef("1", "shopify-9"), {"status": "gone"}),
        IdentifyObject(ObjectRef("5", "p1"), {"x": 1}),
    ]
    assert runtime.services.ingest.apply(ws, ops) == []


def test_dry_run_reports_diff_and_impact_on_stored_data(runtime: Runtime, workspace: Credentials) -> None:
    ws = workspace.workspace.id
    admin = admin_of(runtime)
    admin.put(ws, {"object_types": {"cart": {"id": "1", "attributes": {"status": {"type": "string"}}}}})
    _store_carts(runtime, ws)
    report = admin.dry_run(ws, cart_contract(mode="enforce"))
    changes = {c["path"]: c for c in report["changes"]}
    assert changes["mode"]["from"] == "observe"
    assert changes["mode"]["to"] == "enforce"
    assert changes["object_types.cart.attributes.status"]["change"] == "changed"
    assert changes["object_types.cart.attributes.cart_total"]["change"] == "added"
    assert changes["object_types.cart.id_pattern"]["change"] == "added"
    assert changes["object_types.cart_item"]["change"] == "added"
    impact = {(i["kind"], i["type"], i["attribute"]): i for i in report["impact"]}
    assert impact[("id_pattern", "cart", None)]["count"] == 2
    assert {s["object_id"] for s in impact[("id_pattern", "cart", None)]["samples"]} == {
        "cart_1",
        "shopify-9",
    }
    assert impact[("type", "cart", "status")]["count"] == 1
    assert impact[("type", "cart", "status")]["samples"][0]["value"] == "gone"
    assert impact[("type", "cart", "cart_total")]["count"] == 1
    assert impact[("required", "cart", "cart_total")]["count"] == 1
    assert impact[("unknown_type", "type_5", None)]["count"] == 1
    assert "rejected" in impact[("unknown_type", "type_5", None)]["message"]
    assert report["breaks_stored_data"] is True
    # A contract that breaks stored data is still appliable.
    assert admin.put(ws, cart_contract(mode="enforce"))["applied"] is True


def test_dry_run_only_measures_new_or_changed_rules(runtime: Runtime, workspace: Credentials) -> None:
    ws = workspace.workspace.id
    admin = admin_of(runtime)
    admin.put(ws, cart_contract())
    _store_carts(runtime, ws)
    same = admin.dry_run(ws, cart_contract())
    assert same["changes"] == []
    assert same["impact"] == []
    loosened = cart_contract()
    del loosened["object_types"]["cart"]["id_pattern"]
    report = admin.dry_run(ws, loosened)
    assert [c["path"] for c in report["changes"]] == ["object_types.cart.id_pattern"]
    assert report["impact"] == []


def test_dry_run_reports_relationships_and_exclusive_conflicts(
    runtime: Runtime, workspace: Credentials
) -> None:
    ws = workspace.workspace.id
    ingest = runtime.services.ingest
    ops = [
        IdentifyObject(ObjectRef("cart", "cart_aaaaaaaaaaaa"), {"status": "active"}),
        IdentifyObject(ObjectRef("cart", "cart_bbbbbbbbbbbb"), {"status": "active"}),
        PersonLinks(
            PersonRef("id", "u1"),
            (Link(ObjectRef("cart", "cart_aaaaaaaaaaaa")), Link(ObjectRef("cart", "cart_bbbbbbbbbbbb"))),
        ),
        PersonLinks(PersonRef("id", "u1"), (Link(ObjectRef("9", "w1")),)),
    ]
    assert ingest.apply(ws, ops) == []
    report = admin_of(runtime).dry_run(ws, cart_contract())
    impact = {(i["kind"], i["type"]): i for i in report["impact"]}
    assert impact[("exclusive", "person→cart")]["count"] == 1
    sample = impact[("exclusive", "person→cart")]["samples"][0]
    assert sample["person"]["id"] == "u1"
    assert sample["count"] == 2
    assert impact[("unknown_relationship", "person→type_9")]["count"] == 1
    assert ("unknown_relationship", "person→cart") not in impact
