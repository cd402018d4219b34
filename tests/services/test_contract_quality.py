"""The data-quality report and expire rules on both stores."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from relata.bootstrap import Runtime
from relata.core.clock import FakeClock
from relata.core.identity import ObjectRef, PersonRef
from relata.core.operations import IdentifyObject, Link, ObjectLinks, PersonLinks
from relata.services.contract_admin import ContractAdmin
from relata.storage import objects
from relata.storage.schema import changes
from relata.storage.workspaces import Credentials

HOUR = 3_600_000
DAY = 24 * HOUR
ACTIVE = {"attribute": {"field": "status", "operator": "eq", "value": "active"}}


def admin_of(runtime: Runtime) -> ContractAdmin:
    s = runtime.services
    return ContractAdmin(s.db, s.clock, s.contracts, s.ingest)


def contract(exclusive: bool = True) -> dict[str, Any]:
    return {
        "object_types": {
            "cart": {
                "id": "1",
                "freshness": {"attribute": "updated_at", "max_age": "4h", "when": ACTIVE},
                "expire": {
                    "attribute": "updated_at",
                    "after": "7d",
                    "when": ACTIVE,
                    "set": {"status": "abandoned"},
                },
                "attributes": {
                    "status": {
                        "type": "enum",
                        "values": ["active", "converted", "abandoned"],
                        "required": True,
                    },
                    "checkout_url": {"type": "url", "required": True},
                    "updated_at": {"type": "timestamp"},
                },
            },
            "cart_item": {"id": "2", "attributes": {"sku": {"type": "string", "required": True}}},
        },
        "relationships": [
            {"from": "person", "to": "cart", "as": "carts", "exclusive": exclusive},
            {"from": "cart", "to": "cart_item", "as": "items"},
        ],
    }


def items_by(report: dict[str, Any]) -> dict[tuple[str, str, str | None], dict[str, Any]]:
    return {(i["kind"], i["type"], i["attribute"]): i for i in report["items"]}


def test_quality_report(runtime: Runtime, workspace: Credentials, clock: FakeClock) -> None:
    ws = workspace.workspace.id
    admin = admin_of(runtime)
    admin.put(ws, contract(exclusive=False))
    now_s = clock.now() // 1000
    url = "https://shop.example/checkout"
    ops = [
        # Fresh, stale (number), stale (ISO text), stale by row updated_at (no attribute), and not active.
        IdentifyObject(
            ObjectRef("cart", "fresh"),
            {"status": "active", "checkout_url": url, "updated_at": now_s + 5 * 3600},
        ),
        IdentifyObject(
            ObjectRef("cart", "old"),
            {"status": "active", "checkout_url": url, "updated_at": now_s - 5 * 3600},
        ),
        IdentifyObject(ObjectRef("cart", "old_iso"), {"status": "active", "checkout_url": url}),
        IdentifyObject(ObjectRef("cart", "done"), {"status": "converted", "updated_at": now_s - 10 * 86400}),
        # Dangling: linked, never identified.
        PersonLinks(
            PersonRef("id", "u1"), (Link(ObjectRef("cart", "ghost")), Link(ObjectRef("cart", "fresh")))
        ),
        ObjectLinks(ObjectRef("cart", "fresh"), (Link(ObjectRef("cart_item", "ci_ghost")),)),
    ]
    assert runtime.services.ingest.apply(ws, ops) == []
    clock.advance(5 * HOUR)
    # ISO-8601 text, as stored before the contract declared updated_at a timestamp (now normalised).
    with runtime.services.db.write() as conn:
        cart = objects.find_type(conn, ws, "cart")
        assert cart is not None
        stored = objects.find(conn, cart, "old_iso")
        assert stored is not None
        from relata.core.attributes import AttributeState

        objects.save(
            conn,
            stored,
            AttributeState(
                {**stored.attributes, "updated_at": "2025-12-31T20:00:00Z"},
                {**stored.stamps, "updated_at": 1},
            ),
            stored.updated_at,
        )
    report = admin.quality(ws)
    items = items_by(report)
    dangling = items[("dangling_relationship", "cart", None)]
    assert dangling["count"] == 1
    assert dangling["samples"][0]["to"] == {"type": "cart", "object_id": "ghost"}
    assert dangling["samples"][0]["from"]["person"]["id"] == "u1"
    assert items[("dangling_relationship", "cart_item", None)]["count"] == 1
    stale = items[("stale", "cart", "updated_at")]
    assert {s["object_id"] for s in stale["samples"]} == {"old", "old_iso"}
    assert stale["count"] == 2
    assert stale["samples"][0]["age_seconds"] >= 4 * 3600
    missing = items[("missing_required", "cart", "checkout_url")]
    assert missing["count"] == 1
    assert missing["samples"] == [{"object_id": "done"}]
    assert items[("missing_required", "cart", "status")]["count"] == 0
    assert report["totals"]["dangling_relationship"] == 2
    assert report["contract_version"] == 1


def test_stale_falls_back_to_the_row_updated_at(
    runtime: Runtime, workspace: Credentials, clock: FakeClock
) -> None:
    ws = workspace.workspace.id
    admin = admin_of(runtime)
    admin.put(ws, contract())
    assert (
        runtime.services.ingest.apply(ws, [IdentifyObject(ObjectRef("cart", "c1"), {"status": "active"})])
        == []
    )
    clock.advance(3 * HOUR)
    assert items_by(admin.quality(ws))[("stale", "cart", "updated_at")]["count"] == 0
    clock.advance(2 * HOUR)
    assert items_by(admin.quality(ws))[("stale", "cart", "updated_at")]["count"] == 1


def test_exclusive_conflicts_in_the_report(runtime: Runtime, workspace: Credentials) -> None:
    ws = workspace.workspace.id
    admin = admin_of(runtime)
    admin.put(ws, contract(exclusive=False))
    links = (Link(ObjectRef("cart", "a")), Link(ObjectRef("cart", "b")), Link(ObjectRef("cart", "c")))
    assert runtime.services.ingest.apply(ws, [PersonLinks(PersonRef("id", "u1"), links)]) == []
    assert runtime.services.ingest.apply(ws, [PersonLinks(PersonRef("id", "u2"), links[:1])]) == []
    admin.put(ws, contract(exclusive=True))
    conflict = items_by(admin.quality(ws))[("exclusive_conflict", "person→cart", None)]
    assert conflict["count"] == 1
    assert conflict["samples"][0]["object_ids"] == ["a", "b", "c"]
    assert conflict["samples"][0]["count"] == 3


def test_expire_due_writes_through_the_write_path(
    runtime: Runtime, workspace: Credentials, clock: FakeClock
) -> None:
    ws = workspace.workspace.id
    admin = admin_of(runtime)
    admin.put(ws, contract())
    url = "https://shop.example/c"
    now_s = clock.now() // 1000
    ops = [
        IdentifyObject(
            ObjectRef("cart", "idle"), {"status": "active", "checkout_url": url, "updated_at": now_s}
        ),
        IdentifyObject(
            ObjectRef("cart", "iso"),
            {"status": "active", "checkout_url": url, "updated_at": "2026-01-01T00:00:00Z"},
        ),
        IdentifyObject(
            ObjectRef("cart", "busy"), {"status": "active", "checkout_url": url, "updated_at": now_s}
        ),
        IdentifyObject(
            ObjectRef("cart", "paid"), {"status": "converted", "checkout_url": url, "updated_at": now_s}
        ),
    ]
    assert runtime.services.ingest.apply(ws, ops) == []
    clock.advance(6 * DAY)
    assert admin.expire_due(ws) == 0
    fresh = IdentifyObject(ObjectRef("cart", "busy"), {"updated_at": clock.now() // 1000})
    assert runtime.services.ingest.apply(ws, [fresh]) == []
    clock.advance(DAY + 1000)
    assert items_by(admin.quality(ws))[("expire_due", "cart", "updated_at")]["count"] == 2
    assert admin.expire_due(ws) == 2
    assert admin.expire_due(ws) == 0
    with runtime.services.db.read() as conn:
        cart = objects.find_type(conn, ws, "cart")
        assert cart is not None
        status = {
            o: objects.find(conn, cart, o).attributes["status"] for o in ("idle", "iso", "busy", "paid")
        }  # type: ignore[union-attr]
        logged = conn.execute(
            select(changes).where(changes.c.op == "update", changes.c.entity == "object")
        ).all()
    assert status == {"idle": "abandoned", "iso": "abandoned", "busy": "active", "paid": "converted"}
    expired = [c for c in logged if c.diff.get("status") == ["active", "abandoned"]]
    assert len(expired) == 2


def test_expire_rejected_in_enforce_mode_is_recorded(
    runtime: Runtime, workspace: Credentials, clock: FakeClock
) -> None:
    ws = workspace.workspace.id
    admin = admin_of(runtime)
    admin.put(ws, contract())
    # Stored in observe mode without its required checkout_url; enforce then rejects the expire write.
    assert (
        runtime.services.ingest.apply(ws, [IdentifyObject(ObjectRef("cart", "c1"), {"status": "active"})])
        == []
    )
    admin.put(ws, {**contract(), "mode": "enforce"})
    clock.advance(8 * DAY)
    assert admin.expire_due(ws) == 0
    found = admin.violations(ws, "cart")
    assert any(v["attribute"] == "checkout_url" and v["rejected"] == 1 for v in found)


def test_expire_without_when_does_not_fire_twice(
    runtime: Runtime, workspace: Credentials, clock: FakeClock
) -> None:
    ws = workspace.workspace.id
    admin = admin_of(runtime)
    document = {
        "object_types": {
            "session": {"id": "1", "expire": {"attribute": "seen_at", "after": "1h", "set": {"closed": True}}}
        }
    }
    admin.put(ws, document)
    assert runtime.services.ingest.apply(ws, [IdentifyObject(ObjectRef("session", "s1"), {"n": 1})]) == []
    clock.advance(2 * HOUR)
    assert admin.expire_due(ws) == 1
    clock.advance(2 * HOUR)
    assert admin.expire_due(ws) == 0
