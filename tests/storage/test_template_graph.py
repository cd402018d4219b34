"""StorageGraph against both databases: relationship loading, batching, and query counts of renders."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml
from sqlalchemy import Connection, event, insert

from relata.core.contract import Contract
from relata.core.contract_parse import parse_contract
from relata.core.templates import (
    Aborted,
    EmailTemplate,
    EntityRef,
    Hop,
    MessageContext,
    Rendered,
    RenderedEmail,
    RenderedSms,
    SmsTemplate,
    render,
)
from relata.storage.database import Database
from relata.storage.schema import object_links, object_types, objects, people, person_links, workspaces
from relata.storage.template_graph import StorageGraph

CONTRACT = parse_contract(
    yaml.safe_load(
        """
object_types:
  cart: {id: "1", attributes: {status: string, cart_total: number, currency: currency}}
  cart_item: {id: "2", attributes: {sku: string, price: number, quantity: integer}}
  product: {id: "3", attributes: {name: string, image_url: url}}
  order: {id: "4", attributes: {number: string, total: number, currency: currency}}
  order_item: {id: "5", attributes: {quantity: integer, price: number}}
relationships:
  - {from: person, to: cart, as: carts, inverse: shoppers}
  - {from: cart, to: cart_item, as: items, inverse: cart}
  - {from: cart_item, to: product, as: product, inverse: cart_items}
  - {from: person, to: order, as: orders, inverse: customer}
  - {from: order, to: order_item, as: items, inverse: order}
  - {from: order_item, to: product, as: product, inverse: order_items}
"""
    )
)
_counter = itertools.count(1)


@dataclass
class Store:
    conn: Connection
    workspace: int
    types: dict[str, int] = field(default_factory=dict)

    def type(self, name: str) -> int:
        if name not in self.types:
            type_id = str(len(self.types) + 1)
            self.types[name] = self.conn.execute(
                insert(object_types)
                .values(workspace_id=self.workspace, type_id=type_id, name=name, created_at=0)
                .returning(object_types.c.id)
            ).scalar_one()
        return self.types[name]

    def person(self, ident: str, **attributes: Any) -> int:
        n = next(_counter)
        return int(
            self.conn.execute(
                insert(people)
                .values(
                    workspace_id=self.workspace,
                    cio_id=f"cio{n}",
                    ident=ident,
                    email=f"{ident}@example.test",
                    email_key=f"{ident}@example.test",
                    attributes=attributes,
                    stamps={},
                    created_at=0,
                    updated_at=0,
                )
                .returning(people.c.pk)
            ).scalar_one()
        )

    def object(self, type_name: str, object_id: str, **attributes: Any) -> int:
        n = next(_counter)
        return int(
            self.conn.execute(
                insert(objects)
                .values(
                    workspace_id=self.workspace,
                    type_pk=self.type(type_name),
                    object_id=object_id,
                    cio_object_id=f"obj{n}",
                    attributes=attributes,
                    stamps={},
                    created_at=0,
                    updated_at=0,
                )
                .returning(objects.c.pk)
            ).scalar_one()
        )

    def link_person(self, person_pk: int, object_pk: int, **attributes: Any) -> None:
        self.conn.execute(
            insert(person_links).values(
                workspace_id=self.workspace,
                person_pk=person_pk,
                object_pk=object_pk,
                attributes=attributes,
                stamps={},
                created_at=next(_counter),
                updated_at=0,
            )
        )

    def link(self, parent_pk: int, child_pk: int, **attributes: Any) -> None:
        self.conn.execute(
            insert(object_links).values(
                workspace_id=self.workspace,
                parent_pk=parent_pk,
                child_pk=child_pk,
                attributes=attributes,
                stamps={},
                created_at=next(_counter),
                updated_at=0,
            )
        )


@contextmanager
def store(database: Database) -> Iterator[Store]:
    with database.write() as conn:
        workspace = conn.execute(
            insert(workspaces).values(name=f"ws{next(_counter)}", created_at=0).returning(workspaces.c.id)
        ).scalar_one()
        yield Store(conn, int(workspace))


@contextmanager
def counting(database: Database) -> Iterator[list[str]]:
    statements: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "PRAGMA", "COMMIT", "ROLLBACK")):
            statements.append(statement)

    event.listen(database.engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(database.engine, "before_cursor_execute", before)


def seed_cart(s: Store, items: int = 5) -> tuple[int, int]:
    """A person with an active cart of ``items`` items, each with its product (one without image)."""
    person = s.person("ada", first_name="Ada", timezone="Europe/Paris")
    cart = s.object("cart", "cart_1", status="active", cart_total=10.0 * items, currency="EUR")
    s.link_person(person, cart, role="owner")
    for i in range(1, items + 1):
        item = s.object("cart_item", f"item_{i}", sku=f"SKU{i}", price=10.0, quantity=i)
        product = s.object(
            "product",
            f"prod_{i}",
            name=f"Product {i}",
            **({"image_url": f"https://img.test/{i}.png"} if i != 3 else {}),
        )
        s.link(cart, item)
        s.link(item, product)
    return person, cart


CART_EMAIL = EmailTemplate(
    subject="{{ customer.first_name }}, {{ trigger.cart.items.size }} items are waiting",
    html=(
        "<html><head><style>.p{font-weight:bold}</style></head><body><table>"
        "{% for item in trigger.cart.items %}<tr><td class='p'>{{ item.product.name }}</td>"
        "<td><img src='{{ item.product.image_url | image_fallback: \"https://img.test/none.png\" }}'></td>"
        "<td>{{ item.quantity }} x {{ item.price | money: trigger.cart.currency }}</td></tr>{% endfor %}"
        "</table><p>Total {{ trigger.cart.cart_total | money: trigger.cart.currency }}</p>"
        "<a href='{% unsubscribe_url %}'>Unsubscribe</a></body></html>"
    ),
    required=("trigger.cart.items",),
)
LINKS = {"unsubscribe_url": "https://t.test/u/abc"}


def cart_context(graph: StorageGraph, person: int, cart: int, contract: Contract | None) -> MessageContext:
    customer = graph.person(pk=person)
    assert customer is not None
    trigger = graph.object("cart", "cart_1")
    assert trigger is not None and trigger.ref.key == cart
    return MessageContext(
        customer=customer,
        trigger_object=trigger,
        trigger_relationship=graph.person_link(customer.ref, trigger.ref),
        links=LINKS,
        graph=graph,
        contract=contract,
    )


@pytest.mark.parametrize("contract", [CONTRACT, None], ids=["contract", "type-names"])
def test_cart_email_loads_one_query_per_relationship_level(
    database: Database, contract: Contract | None
) -> None:
    with store(database) as s:
        person, cart = seed_cart(s, items=5)
    template = CART_EMAIL
    if contract is None:  # without a contract the related type's name is the relationship name
        template = EmailTemplate(
            subject=CART_EMAIL.subject.replace(".items", ".cart_item"),
            html=CART_EMAIL.html.replace(".items", ".cart_item").replace("item.product", "item.product"),
            required=("trigger.cart.cart_item",),
        )
    with database.read() as conn:
        graph = StorageGraph(conn, s.workspace)
        context = cart_context(graph, person, cart, contract)
        with counting(database) as statements:
            outcome = render(template, context)
    assert isinstance(outcome, Rendered), outcome
    content = outcome.content
    assert isinstance(content, RenderedEmail)
    assert content.subject == "Ada, 5 items are waiting"
    for i in range(1, 6):
        assert f"Product {i}" in content.html
    assert "https://img.test/none.png" in content.html  # product 3 has no image
    assert content.html.count("€10.00") == 5
    assert "€50.00" in content.html
    assert 'style="font-weight: bold;"' in content.html
    # object types (once), cart -> items, items -> products: never one query per item
    assert outcome.graph_reads == 2
    assert len(statements) == 2, statements  # the type map was loaded by graph.object() above


def test_query_count_does_not_grow_with_items(database: Database) -> None:
    with store(database) as s:
        person, cart = seed_cart(s, items=40)
    with database.read() as conn:
        graph = StorageGraph(conn, s.workspace)
        context = cart_context(graph, person, cart, CONTRACT)
        with counting(database) as statements:
            outcome = render(CART_EMAIL, context)
    assert isinstance(outcome, Rendered)
    assert len(statements) == 2


def test_untouched_relationships_are_not_loaded(database: Database) -> None:
    with store(database) as s:
        person, cart = seed_cart(s, items=3)
    with database.read() as conn:
        graph = StorageGraph(conn, s.workspace)
        context = cart_context(graph, person, cart, CONTRACT)
        with counting(database) as statements:
            outcome = render(
                SmsTemplate("Hi {{ customer.first_name }}, your cart is {{ trigger.cart.status }}"), context
            )
    assert isinstance(outcome, Rendered)
    assert isinstance(outcome.content, RenderedSms)
    assert outcome.content.body == "Hi Ada, your cart is active"
    assert statements == []


def test_deep_relations_order_items_products(database: Database) -> None:
    with store(database) as s:
        person = s.person("bo", first_name="Bo")
        for n in (1, 2):
            order = s.object("order", f"o{n}", number=f"#{n}", total=30 * n, currency="USD")
            s.link_person(person, order)
            for k in range(n + 1):
                line = s.object("order_item", f"o{n}l{k}", quantity=k + 1, price=10)
                product = s.object("product", f"o{n}p{k}", name=f"P{n}{k}")
                s.link(order, line)
                s.link(line, product)
    template = SmsTemplate(
        "{% for order in customer.orders %}{{ order.number }}:"
        "{% for line in order.items %} {{ line.quantity }}x{{ line.product.name }}{% endfor %};{% endfor %}"
    )
    with database.read() as conn:
        graph = StorageGraph(conn, s.workspace)
        customer = graph.person(ident="bo")
        with counting(database) as statements:
            outcome = render(template, MessageContext(customer=customer, graph=graph, contract=CONTRACT))
    assert isinstance(outcome, Rendered)
    assert isinstance(outcome.content, RenderedSms)
    assert outcome.content.body == "#1: 1xP10 2xP11;#2: 1xP20 2xP21 3xP22;"
    # types, orders, order items (both orders at once), products (all lines at once)
    assert len(statements) == 4, statements


def test_where_first_and_inverse_relationships(database: Database) -> None:
    with store(database) as s:
        person = s.person("cy", first_name="Cy")
        other = s.person("di", first_name="Di")
        old = s.object("cart", "c_old", status="converted", cart_total=5, currency="GBP")
        new = s.object("cart", "c_new", status="active", cart_total=1234.5, currency="GBP")
        s.link_person(person, old)
        s.link_person(person, new)
        s.link_person(other, new)
    template = SmsTemplate(
        '{% assign cart = customer.carts | where: "status", "active" | first %}'
        "{{ cart.cart_total | money: cart.currency }} shared with {{ cart.shoppers.size }} people: "
        "{{ cart.shoppers | map: 'first_name' | join: ', ' }}"
    )
    with database.read() as conn:
        graph = StorageGraph(conn, s.workspace)
        outcome = render(
            template, MessageContext(customer=graph.person(ident="cy"), graph=graph, contract=CONTRACT)
        )
    assert isinstance(outcome, Rendered)
    assert isinstance(outcome.content, RenderedSms)
    assert outcome.content.body == "£1,234.50 shared with 2 people: Cy, Di"


def test_empty_cart_aborts_with_missing_data(database: Database) -> None:
    with store(database) as s:
        person = s.person("ed")
        cart = s.object("cart", "cart_1", status="active", cart_total=0, currency="EUR")
        s.link_person(person, cart)
    with database.read() as conn:
        graph = StorageGraph(conn, s.workspace)
        outcome = render(CART_EMAIL, cart_context(graph, person, cart, CONTRACT))
    assert outcome == Aborted("missing_data", "trigger.cart.items", "required")


def test_related_reads_many_entities_in_one_call_and_keeps_link_attributes(database: Database) -> None:
    with store(database) as s:
        person = s.person("fy")
        carts = [s.object("cart", f"c{i}", status="active") for i in range(3)]
        for i, cart in enumerate(carts):
            s.link_person(person, cart, position=i)
            for k in range(i):
                s.link(cart, s.object("cart_item", f"c{i}i{k}", sku=f"{i}{k}"), quantity=k + 1)
    with database.read() as conn:
        graph = StorageGraph(conn, s.workspace)
        refs = [EntityRef("cart", pk) for pk in carts]
        assert graph.object_type_names() == {"cart", "cart_item"}  # loaded once per graph
        with counting(database) as statements:
            found = graph.related(refs, Hop("items", "cart_item", "forward"))
        assert len(statements) == 1
        assert [len(found.get(ref, ())) for ref in refs] == [0, 1, 2]
        second = found[refs[2]]
        assert [e.attributes["sku"] for e in second] == ["20", "21"]
        assert [e.link for e in second] == [{"quantity": 1}, {"quantity": 2}]
        assert second[0].fields["object_id"] == "c2i0"
        back = graph.related([second[0].ref], Hop("cart", "cart", "either"))
        assert [e.ref.key for e in back[second[0].ref]] == [carts[2]]
        people_of = graph.related([EntityRef("cart", carts[1])], Hop("person", "person", "inverse"))
        assert [e.fields["id"] for e in people_of[EntityRef("cart", carts[1])]] == ["fy"]
        assert graph.object("2", "c2i1") is not None  # numeric type id accepted
        assert graph.object("nope", "x") is None


def test_workspaces_do_not_leak(database: Database) -> None:
    with store(database) as s:
        seed_cart(s, items=1)
    with store(database) as t:
        t.person("ada")
    with database.read() as conn:
        graph = StorageGraph(conn, t.workspace)
        assert graph.object("cart", "cart_1") is None
        assert graph.object_type_names() == frozenset()
