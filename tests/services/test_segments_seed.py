"""The seed's segments (examples/segments/) on the demo contract, kept current on both databases, and in
agreement with a set-based count of the same conditions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from tests.services.test_segments_support import (
    HOUR,
    apply,
    event,
    identify,
    install_contract,
    link,
    members,
    obj,
    settle,
)

from relata.bootstrap import Runtime
from relata.core.conditions import parse_condition
from relata.core.identity import ObjectRef
from relata.core.operations import IdentifyObject, Link
from relata.storage.conditions_sql import matching_people
from relata.storage.segments import StoredSegments
from relata.storage.workspaces import Credentials

EXAMPLES = Path(__file__).parents[2] / "examples"


def seed_contract() -> dict[str, Any]:
    document = yaml.safe_load((EXAMPLES / "contract.yaml").read_text())
    document["mode"] = "observe"  # the generated data skips required attributes
    return dict(document)


def seed_segments() -> list[dict[str, Any]]:
    return [yaml.safe_load(path.read_text()) for path in sorted((EXAMPLES / "segments").glob("*.yaml"))]


def order(
    ident: str, order_id: str, total: float, *, skincare: bool = False, eligible: bool = False
) -> list[Any]:
    ops: list[Any] = [
        obj("order", order_id, order_total=total, subscription_eligible=eligible),
        link(ident, "order", order_id),
    ]
    if skincare:
        ops.append(obj("product", "SERUM-1", category="skincare"))
        ops.append(
            IdentifyObject(
                ObjectRef("order_item", f"{order_id}-1"),
                {"sku": "SERUM-1"},
                links=(Link(ObjectRef("product", "SERUM-1")),),
            )
        )
        ops.append(
            IdentifyObject(
                ObjectRef("order", order_id), {}, links=(Link(ObjectRef("order_item", f"{order_id}-1")),)
            )
        )
    return ops


def test_seed_segments_follow_the_demo_store(runtime: Runtime, workspace: Credentials) -> None:
    ws = workspace.workspace.id
    install_contract(runtime, ws, seed_contract())
    saved = runtime.services.segments.apply(ws, seed_segments())
    assert {s["id"] for s in saved} == {
        "abandoned-carts-fresh-activity",
        "first-time-skincare-buyers",
        "high-aov-carts",
        "subscription-eligible",
        "vip",
    }
    now_s = runtime.services.clock.now() // 1000
    apply(
        runtime,
        ws,
        identify("ann"),
        obj("cart", "cart_00000000000a", status="active", cart_total=180, updated_at=now_s),
        link("ann", "cart", "cart_00000000000a"),
        *order("bea", "ord_000001", 40, skincare=True),
        *order("cid", "ord_000002", 300, eligible=True),
        *order("cid", "ord_000003", 300),
        obj("cart", "cart_00000000000d", status="active", cart_total=20, updated_at=now_s - 5 * 3600),
        link("dee", "cart", "cart_00000000000d"),
    )
    settle(runtime)
    assert members(runtime, ws, "high-aov-carts") == {"ann"}
    assert members(runtime, ws, "first-time-skincare-buyers") == {"bea"}
    assert members(runtime, ws, "subscription-eligible") == {"cid"}
    assert members(runtime, ws, "vip") == {"cid"}
    assert members(runtime, ws, "abandoned-carts-fresh-activity") == set()
    apply(runtime, ws, event("dee", "viewed_product"), *order("bea", "ord_000004", 20))
    settle(runtime)
    assert members(runtime, ws, "abandoned-carts-fresh-activity") == {"dee"}
    assert members(runtime, ws, "first-time-skincare-buyers") == set()  # a second order
    runtime.services.clock.advance(25 * HOUR)  # type: ignore[attr-defined]
    settle(runtime)
    assert members(runtime, ws, "high-aov-carts") == set()  # the cart went stale
    assert members(runtime, ws, "abandoned-carts-fresh-activity") == set()  # the view is a day old
    # the incremental engine agrees with the set-based executor
    services = runtime.services
    with services.db.read() as conn:
        contract = services.contracts.current(conn, ws)
        for segment in seed_segments():
            condition = parse_condition(segment["condition"], "condition")
            expected = matching_people(
                conn,
                condition,
                workspace_id=ws,
                now=services.clock.now(),
                contract=contract,
                segments=StoredSegments(conn, ws),
            )
            page = services.segments.members(ws, segment["id"], None, 1000)
            assert sorted(item["pk"] for item in page.items) == expected, segment["id"]
