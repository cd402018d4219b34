"""Shared data of the template API tests: the demo contract, a shopper with an active cart, the examples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from relata.bootstrap import Runtime
from relata.core.identity import ObjectRef, PersonRef
from relata.core.operations import IdentifyObject, IdentifyPerson, Link, ObjectLinks
from relata.storage import contracts

ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "examples" / "templates"
CART_ID = "cart_0123456789ab"
CHECKOUT = "https://shop.example.com/checkout/cart_0123456789ab"


def example(name: str) -> dict[str, Any]:
    document = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())
    assert isinstance(document, dict)
    return document


def apply_demo_contract(runtime: Runtime, workspace_id: int) -> None:
    document = yaml.safe_load((ROOT / "examples" / "contract.yaml").read_text())
    with runtime.services.db.write() as conn:
        contracts.add_version(conn, workspace_id, document, runtime.services.clock.now())


def item_id(n: int) -> str:
    return f"ci_{n:012x}"


def seed_cart(
    runtime: Runtime,
    workspace_id: int,
    *,
    items: int = 5,
    without_image: int | None = None,
    person: str = "u_1",
) -> None:
    """A shopper with an active EUR cart of ``items`` items (item ``without_image`` has no image)."""
    ops: list[Any] = [
        IdentifyPerson(
            PersonRef("id", person),
            {"email": f"{person}@example.com", "first_name": "Ada", "timezone": "Europe/Paris"},
        ),
        IdentifyObject(
            ObjectRef("cart", CART_ID),
            {
                "status": "active",
                "cart_total": sum(10 * n * n for n in range(1, items + 1)) + 0.5,
                "currency": "EUR",
                "checkout_url": CHECKOUT,
                "updated_at": 1_767_225_600,
            },
            links=(Link(PersonRef("id", person)),),
        ),
    ]
    for n in range(1, items + 1):
        attributes: dict[str, Any] = {
            "sku": f"SKU-{n}",
            "product_name": f"Linen shirt {n}",
            "price": 10 * n,
            "quantity": n,
        }
        if n != without_image:
            attributes["image_url"] = f"https://cdn.example.com/p/{n}.jpg"
        ops.append(IdentifyObject(ObjectRef("cart_item", item_id(n)), attributes))
    if items:
        links = tuple(Link(ObjectRef("cart_item", item_id(n))) for n in range(1, items + 1))
        ops.append(ObjectLinks(ObjectRef("cart", CART_ID), links))
    errors = runtime.services.ingest.apply(workspace_id, ops)
    assert errors == [], errors
