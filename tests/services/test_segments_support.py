"""Helpers of the segment tests: a small contract, writes through Ingest, the tasks run synchronously."""

from __future__ import annotations

from typing import Any

from relata.bootstrap import Runtime
from relata.core.clock import FakeClock
from relata.core.identity import ObjectRef, PersonRef
from relata.core.operations import IdentifyObject, IdentifyPerson, Link, Operation, PersonLinks, TrackEvent
from relata.jobs.segments import run_until_idle
from relata.storage import contracts

HOUR = 3_600_000
DAY = 24 * HOUR

CONTRACT: dict[str, Any] = {
    "mode": "observe",
    "object_types": {
        "cart": {
            "id": "1",
            "attributes": {
                "status": {"type": "string"},
                "cart_total": {"type": "number"},
                "updated_at": {"type": "timestamp"},
            },
        },
        "cart_item": {"id": "2", "attributes": {"sku": {"type": "string"}, "in_stock": {"type": "boolean"}}},
        "order": {
            "id": "3",
            "attributes": {"order_total": {"type": "number"}, "subscription_eligible": {"type": "boolean"}},
        },
        "order_item": {"id": "4", "attributes": {"sku": {"type": "string"}}},
        "product": {"id": "5", "attributes": {"category": {"type": "string"}}},
    },
    "relationships": [
        {"from": "person", "to": "cart", "as": "carts", "inverse": "shoppers", "exclusive": True},
        {"from": "cart", "to": "cart_item", "as": "items", "inverse": "cart"},
        {"from": "person", "to": "order", "as": "orders", "inverse": "customer"},
        {"from": "order", "to": "order_item", "as": "lines", "inverse": "order"},
        {"from": "order_item", "to": "product", "as": "product", "inverse": "order_items"},
    ],
}

ACTIVE_CART_OVER_100 = {
    "related": {
        "via": "carts",
        "where": {
            "and": [
                {"attribute": {"field": "status", "operator": "eq", "value": "active"}},
                {"attribute": {"field": "cart_total", "operator": "gt", "value": 100}},
            ]
        },
    }
}


def install_contract(runtime: Runtime, workspace_id: int, document: dict[str, Any] | None = None) -> None:
    services = runtime.services
    with services.db.write() as conn:
        contracts.add_version(conn, workspace_id, document or CONTRACT, services.clock.now())


def apply(runtime: Runtime, workspace_id: int, *operations: Operation) -> None:
    """Apply through Ingest, a second after the previous write (equal stamps keep the stored value)."""
    clock = runtime.services.clock
    assert isinstance(clock, FakeClock)
    clock.advance(1000)
    errors = runtime.services.ingest.apply(workspace_id, list(operations))
    assert errors == [], errors


def settle(runtime: Runtime) -> int:
    return run_until_idle(runtime.services)


def person(ident: str) -> PersonRef:
    return PersonRef("id", ident)


def identify(ident: str, **attributes: Any) -> IdentifyPerson:
    return IdentifyPerson(person(ident), attributes)


def obj(type_: str, object_id: str, **attributes: Any) -> IdentifyObject:
    return IdentifyObject(ObjectRef(type_, object_id), attributes)


def link(ident: str, type_: str, object_id: str, remove: bool = False) -> PersonLinks:
    return PersonLinks(person(ident), (Link(ObjectRef(type_, object_id)),), remove=remove)


def child(parent_type: str, parent_id: str, type_: str, object_id: str, **attributes: Any) -> IdentifyObject:
    return (
        IdentifyObject(ObjectRef(parent_type, parent_id), {}, links=(Link(ObjectRef(type_, object_id)),))
        if not attributes
        else IdentifyObject(ObjectRef(type_, object_id), attributes)
    )


def event(ident: str, name: str, timestamp: int | None = None, **data: Any) -> TrackEvent:
    return TrackEvent(person(ident), None, name, data, timestamp=timestamp)


def members(runtime: Runtime, workspace_id: int, key: str) -> set[str]:
    page = runtime.services.segments.members(workspace_id, key, None, 1000)
    return {item["id"] or item["email"] or item["cio_id"] for item in page.items}


def history(runtime: Runtime, workspace_id: int, key: str) -> list[tuple[str, str, str]]:
    """(action, cio_id, cause op or kind), oldest first."""
    page = runtime.services.segments.history(workspace_id, key, None, 1000)
    return [
        (h["action"], h["cio_id"], h["cause"].get("op") or h["cause"].get("kind"))
        for h in reversed(page.items)
    ]


def save(runtime: Runtime, workspace_id: int, key: str, condition: Any) -> None:
    runtime.services.segments.save(workspace_id, {"id": key, "condition": condition})
