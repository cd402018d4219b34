"""An in-memory GraphReader and a cart fixture for the template tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from relata.core.contract import PERSON
from relata.core.contract_parse import parse_contract
from relata.core.templates import EntityRef, GraphEntity, Hop, MessageContext

CONTRACT = parse_contract(
    yaml.safe_load(
        """
object_types:
  cart:
    id: "1"
    attributes:
      status: {type: enum, values: [active, converted, abandoned]}
      cart_total: {type: number}
      currency: {type: currency}
      checkout_url: {type: url}
      updated_at: {type: timestamp}
  cart_item:
    id: "2"
    attributes: {sku: string, product_name: string, price: number, quantity: integer, image_url: url}
  product:
    id: "3"
    attributes: {name: string, image_url: url}
  variant:
    id: "4"
    attributes: {title: string, in_stock: boolean}
relationships:
  - {from: person, to: cart, as: carts, inverse: shoppers}
  - {from: cart, to: cart_item, as: items, inverse: cart}
  - {from: cart_item, to: product, as: product, inverse: cart_items}
  - {from: product, to: variant, as: variants, inverse: product}
person:
  attributes: {first_name: string, timezone: string, plan: string, lifetime_value: number}
"""
    )
)


@dataclass
class MemoryGraph:
    """Links as ``(from_ref, to_ref, link attributes)``; counts calls like a database counts queries."""

    entities: dict[EntityRef, GraphEntity] = field(default_factory=dict)
    links: list[tuple[EntityRef, EntityRef, Mapping[str, Any]]] = field(default_factory=list)
    calls: list[tuple[int, Hop]] = field(default_factory=list)
    _next: int = 1

    def add(self, type_name: str, attributes: Mapping[str, Any] | None = None, **fields: Any) -> GraphEntity:
        ref = EntityRef(type_name, self._next)
        self._next += 1
        entity = GraphEntity(ref, dict(attributes or {}), fields)
        self.entities[ref] = entity
        return entity

    def link(self, parent: GraphEntity, child: GraphEntity, **attributes: Any) -> None:
        self.links.append((parent.ref, child.ref, attributes))

    def object_type_names(self) -> frozenset[str]:
        return frozenset(ref.type_name for ref in self.entities if ref.type_name != PERSON)

    def related(self, refs: Sequence[EntityRef], hop: Hop) -> Mapping[EntityRef, Sequence[GraphEntity]]:
        self.calls.append((len(refs), hop))
        out: dict[EntityRef, list[GraphEntity]] = {}
        for ref in refs:
            for parent, child, attributes in self.links:
                forward = hop.direction in ("forward", "either") and parent == ref
                inverse = hop.direction in ("inverse", "either") and child == ref
                other = child if forward else parent if inverse else None
                if other is not None and other.type_name == hop.to_type:
                    found = self.entities[other]
                    out.setdefault(ref, []).append(
                        GraphEntity(found.ref, found.attributes, found.fields, attributes)
                    )
        return out


def cart_graph(
    items: int = 5, *, currency: str = "EUR", missing_image: int | None = 3
) -> tuple[MemoryGraph, MessageContext]:
    graph = MemoryGraph()
    customer = graph.add(
        PERSON,
        {"first_name": "Ada", "timezone": "Europe/Paris", "plan": "pro"},
        id="u_1",
        email="ada@example.test",
        cio_id="cio_1",
    )
    cart = graph.add(
        "cart",
        {
            "status": "active",
            "cart_total": 12.5 * items,
            "currency": currency,
            "checkout_url": "https://shop.test/checkout?c=1",
            "updated_at": 1_700_000_000,
        },
        object_id="cart_1",
        cio_object_id="o_1",
    )
    graph.link(customer, cart, role="owner")
    for i in range(1, items + 1):
        item = graph.add(
            "cart_item", {"sku": f"SKU-{i}", "price": 12.5, "quantity": i}, object_id=f"item_{i}"
        )
        image = {} if i == missing_image else {"image_url": f"https://img.test/{i}.png"}
        product = graph.add("product", {"name": f"Product {i}", **image}, object_id=f"prod_{i}")
        graph.link(cart, item)
        graph.link(item, product)
        for v in range(2):
            variant = graph.add(
                "variant", {"title": f"Size {'SM'[v]}", "in_stock": v == 0}, object_id=f"v{i}{v}"
            )
            graph.link(product, variant)
    context = MessageContext(
        customer=customer,
        trigger_object=cart,
        trigger_relationship={"role": "owner"},
        links={
            "unsubscribe_url": "https://t.test/u/1",
            "preferences_url": "https://t.test/p/1",
            "view_in_browser_url": "https://t.test/v/1",
        },
        timezone="Europe/Paris",
        graph=graph,
        contract=CONTRACT,
    )
    return graph, context
