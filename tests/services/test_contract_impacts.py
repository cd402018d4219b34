"""A contract's dry run reports the segments and templates it would break, and only those."""

from __future__ import annotations

from typing import Any

from relata.bootstrap import Runtime
from relata.storage.workspaces import Credentials


def contract(cart_attributes: dict[str, Any]) -> dict[str, Any]:
    return {
        "object_types": {"cart": {"id": "1", "attributes": cart_attributes}},
        "relationships": [{"from": "person", "to": "cart", "as": "carts", "inverse": "shoppers"}],
    }


FULL = {"status": {"type": "string"}, "cart_total": {"type": "number"}, "currency": {"type": "currency"}}


def test_dry_run_names_the_segments_and_templates_a_contract_would_break(
    runtime: Runtime, workspace: Credentials
) -> None:
    services, ws = runtime.services, workspace.workspace.id
    services.contract_admin.put(ws, contract(FULL))
    big_carts = {
        "related": {
            "via": "carts",
            "where": {"attribute": {"field": "cart_total", "operator": "gt", "value": 100}},
        }
    }
    services.segments.save(ws, {"id": "big-carts", "condition": big_carts})
    services.segments.save(
        ws,
        {
            "id": "active",
            "condition": {
                "related": {
                    "via": "carts",
                    "where": {"attribute": {"field": "status", "operator": "eq", "value": "active"}},
                }
            },
        },
    )
    services.templates.save(
        ws,
        {
            "key": "cart-sms",
            "channel": "sms",
            "body": "Your cart: {{ trigger.cart.cart_total | money: trigger.cart.currency }}",
        },
    )

    kept = services.contract_admin.dry_run(ws, contract(FULL))
    assert [i for i in kept["impact"] if i["kind"] in ("segment", "template")] == []

    without_total = {k: v for k, v in FULL.items() if k != "cart_total"}
    report = services.contract_admin.dry_run(ws, contract(without_total))
    broken = {(i["kind"], i["type"]) for i in report["impact"] if i["kind"] in ("segment", "template")}
    assert broken == {("segment", "big-carts"), ("template", "cart-sms")}
    assert services.contract_admin.current(ws)["version"] == 1  # a dry run applies nothing
