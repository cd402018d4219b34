"""SPEC §6's example segment, verbatim, on both stores: built from writes through the ingestion path,
kept current by the membership engine, and in agreement with the set-based count."""

from __future__ import annotations

from relata.bootstrap import Runtime
from relata.core.clock import FakeClock
from relata.core.identity import ObjectRef, PersonRef
from relata.core.operations import IdentifyObject, IdentifyPerson, Link, Operation, TrackEvent
from relata.jobs.segments import run_until_idle
from relata.storage.workspaces import Credentials

SPEC_EXAMPLE = {"and": [
    {"attribute": {"field": "vip", "operator": "eq", "value": True}},
    {"event": {"name": "viewed_product", "within": "7d", "count": {"gte": 2},
               "where": {"attribute": {"field": "category", "operator": "eq", "value": "skincare"}}}},
    {"related": {"type": "cart", "via": "carts",
                 "where": {"and": [
                     {"attribute": {"field": "status", "operator": "eq", "value": "active"}},
                     {"attribute": {"field": "cart_total", "operator": "gt", "value": 100}},
                     {"attribute": {"field": "updated_at", "operator": "within", "value": "24h"}},
                     {"related": {"type": "cart_item", "where": {
                         "attribute": {"field": "in_stock", "operator": "eq", "value": True}}}}]},
                 "relationship_where": {"attribute": {"field": "role", "operator": "eq", "value": "owner"}},
                 "count": {"gte": 1}}},
    {"related": {"type": "order", "aggregate": {"function": "sum", "field": "total", "operator": "gte",
                                                 "value": 500}}},
    {"not": {"segment": {"id": "unsubscribed-from-marketing"}}},
]}  # fmt: skip

CONTRACT = {
    "object_types": {"cart": {"id": "1"}, "cart_item": {"id": "2"}, "order": {"id": "3"}},
    "relationships": [
        {"from": "person", "to": "cart", "as": "carts", "inverse": "shoppers"},
        {"from": "cart", "to": "cart_item", "as": "items", "inverse": "cart"},
        {"from": "person", "to": "order", "as": "orders", "inverse": "customer"},
    ],
}


def shopper(
    name: str,
    now_s: int,
    *,
    vip: bool = True,
    total: int = 150,
    orders: tuple[int, ...] = (300, 250),
    role: str = "owner",
) -> list[Operation]:
    person = PersonRef("id", name)
    ops: list[Operation] = [IdentifyPerson(person, {"vip": vip})]
    ops += [TrackEvent(person, None, "viewed_product", {"category": "skincare"}) for _ in range(2)]
    ops.append(
        IdentifyObject(
            ObjectRef("cart", f"{name}-cart"),
            {"status": "active", "cart_total": total, "updated_at": now_s - 3600},
            links=(Link(person, {"role": role}), Link(ObjectRef("cart_item", f"{name}-i"))),
        )
    )
    ops.append(IdentifyObject(ObjectRef("cart_item", f"{name}-i"), {"in_stock": True}))
    ops += [
        IdentifyObject(ObjectRef("order", f"{name}-o{i}"), {"total": t}, links=(Link(person),))
        for i, t in enumerate(orders)
    ]
    return ops


def members(runtime: Runtime, ws: int, key: str) -> list[str]:
    page = runtime.services.segments.members(ws, key, None, 100)
    return sorted(item["id"] for item in page.items)


def test_the_spec_example_segment(runtime: Runtime, workspace: Credentials, clock: FakeClock) -> None:
    services, ws = runtime.services, workspace.workspace.id
    services.contract_admin.put(ws, CONTRACT)
    now_s = clock.now() // 1000
    ops = shopper("ann", now_s) + shopper("bob", now_s, vip=False) + shopper("cid", now_s, total=90)
    ops += shopper("dee", now_s, orders=(100,)) + shopper("eve", now_s, role="guest") + shopper("fay", now_s)
    assert services.ingest.apply(ws, ops) == []
    services.segments.save(ws, {"id": "unsubscribed-from-marketing", "kind": "manual"})
    services.segments.add_members(ws, "unsubscribed-from-marketing", [PersonRef("id", "fay")], "test")
    services.segments.save(ws, {"id": "spec-example", "condition": SPEC_EXAMPLE})
    run_until_idle(services)
    assert members(runtime, ws, "spec-example") == ["ann"]
    assert services.segments.preview(ws, SPEC_EXAMPLE)["count"] == 1

    # Incrementally: bob becomes a VIP; ann's cart drops to 80; then a day passes and every cart is stale.
    clock.advance(1000)
    services.ingest.apply(
        ws,
        [
            IdentifyPerson(PersonRef("id", "bob"), {"vip": True}),
            IdentifyObject(ObjectRef("cart", "ann-cart"), {"cart_total": 80}),
        ],
    )
    run_until_idle(services)
    assert members(runtime, ws, "spec-example") == ["bob"]
    clock.advance(24 * 3600 * 1000)
    run_until_idle(services)
    assert members(runtime, ws, "spec-example") == []
