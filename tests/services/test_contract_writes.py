"""The contract on the write path (``Ingest.apply``), on both stores: enforce, observe, exclusive."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from relata.bootstrap import Runtime
from relata.core.identity import ObjectRef, PersonRef
from relata.core.operations import IdentifyObject, IdentifyPerson, Link, PersonLinks
from relata.services.contract_admin import ContractAdmin
from relata.storage import people
from relata.storage.links import PERSON_LINKS
from relata.storage.schema import changes, objects
from relata.storage.workspaces import Credentials

CART = "cart_0123456789ab"
GOOD_CART = {"status": "active", "cart_total": 12.5, "checkout_url": "https://shop.example/c/1"}


def apply_contract(runtime: Runtime, ws: int, mode: str, **extra: Any) -> None:
    s = runtime.services
    document: dict[str, Any] = {
        "mode": mode,
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
                    "cart_total": {"type": "number", "min": 0, "required": True},
                    "checkout_url": {"type": "url", "required": True},
                    "updated_at": {"type": "timestamp"},
                },
            },
            "product": {"id": "5"},
        },
        "relationships": [
            {"from": "person", "to": "cart", "as": "carts", "inverse": "shoppers", "exclusive": True},
            {
                "from": "person",
                "to": "product",
                "as": "viewed_products",
                "attributes": {"viewed_at": "timestamp"},
            },
        ],
        "person": {"attributes": {"email": {"type": "email"}}},
    }
    document.update(extra)
    ContractAdmin(s.db, s.clock, s.contracts, s.ingest).put(ws, document)


def violations(runtime: Runtime, ws: int) -> list[dict[str, Any]]:
    s = runtime.services
    return ContractAdmin(s.db, s.clock, s.contracts, s.ingest).violations(ws)


@pytest.mark.parametrize(
    ("attributes", "field"),
    [
        ({**GOOD_CART, "status": "open"}, "attributes.status"),
        ({**GOOD_CART, "cart_total": -1}, "attributes.cart_total"),
        ({**GOOD_CART, "checkout_url": "shop.example"}, "attributes.checkout_url"),
        ({**GOOD_CART, "updated_at": "yesterday"}, "attributes.updated_at"),
        ({"status": "active", "cart_total": 1}, "attributes.checkout_url"),
    ],
)
def test_enforce_rejects_with_the_field_named(
    runtime: Runtime, workspace: Credentials, attributes: dict[str, Any], field: str
) -> None:
    ws = workspace.workspace.id
    apply_contract(runtime, ws, "enforce")
    ok = IdentifyObject(ObjectRef("cart", "cart_aaaaaaaaaaaa"), GOOD_CART)
    errors = runtime.services.ingest.apply(ws, [IdentifyObject(ObjectRef("1", CART), attributes), ok])
    assert [(e.index, e.field, e.reason) for e in errors] == [(0, field, "contract_violation")]
    with runtime.services.db.read() as conn:
        stored = conn.execute(select(objects.c.object_id)).scalars().all()
    assert stored == ["cart_aaaaaaaaaaaa"]
    recorded = violations(runtime, ws)
    assert [(v["type"], v["attribute"], v["rejected"]) for v in recorded] == [
        ("cart", field.split(".")[1], 1)
    ]


def test_observe_accepts_and_records_the_violation(runtime: Runtime, workspace: Credentials) -> None:
    ws = workspace.workspace.id
    apply_contract(runtime, ws, "observe")
    bad = IdentifyObject(ObjectRef("cart", CART), {**GOOD_CART, "status": "open"})
    assert runtime.services.ingest.apply(ws, [bad, bad]) == []
    (found,) = violations(runtime, ws)
    assert found["type"] == "cart"
    assert found["attribute"] == "status"
    assert found["kind"] == "type"
    assert found["count"] == 2
    assert found["rejected"] == 0
    assert found["samples"][0]["attributes"]["status"] == "open"
    assert found["first_seen"] == found["last_seen"] == runtime.services.clock.now()
    with runtime.services.db.read() as conn:
        assert conn.execute(select(objects.c.attributes)).scalar_one()["status"] == "open"


def test_id_pattern_and_unknown_types(runtime: Runtime, workspace: Credentials) -> None:
    ws = workspace.workspace.id
    apply_contract(runtime, ws, "enforce")
    errors = runtime.services.ingest.apply(
        ws,
        [
            IdentifyObject(ObjectRef("cart", "shopify-123"), GOOD_CART),
            IdentifyObject(ObjectRef("9", "x"), {"a": 1}),
            PersonLinks(PersonRef("id", "u1"), (Link(ObjectRef("cart", "99")),)),
        ],
    )
    assert [(e.index, e.field) for e in errors] == [
        (0, "identifiers.object_id"),
        (1, "identifiers.object_type_id"),
        (2, "cio_relationships[0].identifiers.object_id"),
    ]
    kinds = {(v["type"], v["kind"]) for v in violations(runtime, ws)}
    assert kinds == {("cart", "id_pattern"), ("9", "unknown_type")}


def test_observe_registers_unknown_types_and_records_them(runtime: Runtime, workspace: Credentials) -> None:
    ws = workspace.workspace.id
    apply_contract(runtime, ws, "observe")
    assert runtime.services.ingest.apply(ws, [IdentifyObject(ObjectRef("9", "x"), {"a": 1})]) == []
    assert {(v["type"], v["kind"]) for v in violations(runtime, ws)} == {("9", "unknown_type")}


def test_relationship_and_person_attributes(runtime: Runtime, workspace: Credentials) -> None:
    ws = workspace.workspace.id
    apply_contract(runtime, ws, "enforce")
    errors = runtime.services.ingest.apply(
        ws,
        [
            PersonLinks(PersonRef("id", "u1"), (Link(ObjectRef("product", "P1"), {"viewed_at": "soon"}),)),
            PersonLinks(
                PersonRef("id", "u1"), (Link(ObjectRef("product", "P1"), {"viewed_at": 1767225600}),)
            ),
            IdentifyPerson(PersonRef("id", "u2"), {"email": "not-an-email"}),
        ],
    )
    assert [(e.index, e.field) for e in errors] == [
        (0, "cio_relationships[0].relationship_attributes.viewed_at"),
        (2, "attributes.email"),
    ]


def test_exclusive_keeps_one_cart_per_person(runtime: Runtime, workspace: Credentials) -> None:
    ws = workspace.workspace.id
    apply_contract(runtime, ws, "enforce")
    first, second = "cart_aaaaaaaaaaaa", "cart_bbbbbbbbbbbb"
    ingest = runtime.services.ingest
    assert ingest.apply(ws, [IdentifyObject(ObjectRef("cart", c), GOOD_CART) for c in (first, second)]) == []
    assert ingest.apply(ws, [PersonLinks(PersonRef("id", "u1"), (Link(ObjectRef("cart", first)),))]) == []
    assert ingest.apply(ws, [PersonLinks(PersonRef("id", "u1"), (Link(ObjectRef("cart", second)),))]) == []
    with runtime.services.db.read() as conn:
        person = people.find(conn, ws, PersonRef("id", "u1"))
        assert person is not None
        linked = [link.right for link in PERSON_LINKS.of_left(conn, ws, person.pk)]
        ids = dict(conn.execute(select(objects.c.pk, objects.c.object_id)).all())
        removed = conn.execute(select(changes).where(changes.c.op == "relationship_remove")).all()
    assert [ids[pk] for pk in linked] == [second]
    assert len(removed) == 1
    assert ids[removed[0].object_pk] == first
    assert removed[0].data["reason"] == "exclusive"
