"""Liquid render rate of a 5-item cart recovery email and of an SMS (SPEC §14: ≥ 3,000 messages/s per core).

Each message is rendered as in production: a fresh context and lazy graph per message (the cart's
items and their products are read through a ``GraphReader``, here in memory so that the figure is the
renderer's, not the database's), CSS inlined, a text part generated. The baseline, measured in the
same run, is plain python-liquid rendering the same template source from plain dicts, parsed once,
without Relata's filters, tags, graph, sandbox, CSS inlining or text part.

Run alone: ``python -m benchmarks.bench_render``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import liquid

from benchmarks.harness import Result, print_table
from relata.core.contract import PERSON
from relata.core.contract_parse import parse_contract
from relata.core.templates import (
    EmailTemplate,
    EntityRef,
    GraphEntity,
    Hop,
    MessageContext,
    Rendered,
    SmsTemplate,
    TemplateEngine,
)

TARGET = 3000.0
ITEMS = 5

HTML = """<!doctype html>
<html><head><meta charset="utf-8"><style>
body { font-family: Helvetica, Arial, sans-serif; color: #222; }
.item td { padding: 8px; border-bottom: 1px solid #eee; }
.name { font-weight: bold; }
.price { text-align: right; }
.button { background: #0a7; color: #fff; padding: 12px 20px; text-decoration: none; }
</style></head>
<body>
<h1>Still thinking it over, {{ customer.first_name | default: "friend" }}?</h1>
<p>You left {{ trigger.cart.items.size }}
   {{ trigger.cart.items.size | pluralize: "item", "items" }} in your cart.</p>
<table>
{% for item in trigger.cart.items %}
  <tr class="item">
    <td><img src="{{ item.product.image_url | image_fallback: 'https://cdn.example/none.png' }}" width="80"
             alt="{{ item.product.name }}"></td>
    <td class="name">{{ item.product.name }}</td>
    <td>{{ item.quantity }} x</td>
    <td class="price">{{ item.price | money: trigger.cart.currency }}</td>
  </tr>
{% endfor %}
</table>
<p>Total: <strong>{{ trigger.cart.cart_total | money: trigger.cart.currency }}</strong></p>
<p><a class="button" href="{{ trigger.cart.checkout_url | url_param: 'utm_source', 'email' }}">
  Back to your cart</a></p>
<p>Saved on {{ trigger.cart.updated_at | date: "%B %-d at %H:%M" }}</p>
<p><a href="{% unsubscribe_url %}">Unsubscribe</a> · <a href="{% preferences_url %}">Preferences</a></p>
</body></html>"""

EMAIL = EmailTemplate(
    subject="{{ customer.first_name }}, your {{ trigger.cart.items.size }} items are waiting",
    preheader="Your cart total is {{ trigger.cart.cart_total | money: trigger.cart.currency }}",
    sender="Demo Store <shop@example.test>",
    html=HTML,
    required=("trigger.cart.items",),
)
SMS = SmsTemplate(
    "{{ customer.first_name }}, {{ trigger.cart.items.size }} items "
    "({{ trigger.cart.cart_total | money: trigger.cart.currency }}) are waiting: "
    "{{ trigger.cart.checkout_url | url_param: 'utm_source', 'sms' }}",
    required=("trigger.cart.items",),
)
# The baseline template: the same text with Relata's filters and tags replaced by standard Liquid.
PLAIN_HTML = (
    HTML.replace('| pluralize: "item", "items"', '| append: " items"')
    .replace("| image_fallback: 'https://cdn.example/none.png'", "| default: 'https://cdn.example/none.png'")
    .replace("| money: trigger.cart.currency", "| prepend: '€'")
    .replace("| url_param: 'utm_source', 'email'", "| append: '&utm_source=email'")
    .replace('| date: "%B %-d at %H:%M"', '| date: "%B %-d at %H:%M"')
    .replace("{% unsubscribe_url %}", "{{ links.unsubscribe_url }}")
    .replace("{% preferences_url %}", "{{ links.preferences_url }}")
)
PLAIN_SMS = SMS.body.replace("| money: trigger.cart.currency", "| prepend: '€'").replace(
    "| url_param: 'utm_source', 'sms'", "| append: '&utm_source=sms'"
)
CONTRACT = parse_contract(
    {
        "object_types": {"cart": {"id": "1"}, "cart_item": {"id": "2"}, "product": {"id": "3"}},
        "relationships": [
            {"from": "person", "to": "cart", "as": "carts"},
            {"from": "cart", "to": "cart_item", "as": "items", "inverse": "cart"},
            {"from": "cart_item", "to": "product", "as": "product"},
        ],
    }
)
LINKS = {"unsubscribe_url": "https://t.example/u/abc", "preferences_url": "https://t.example/p/abc"}


class CartGraph:
    """In-memory ``GraphReader``: one cart, its items, one product per item."""

    def __init__(self) -> None:
        self.person = GraphEntity(
            EntityRef(PERSON, 1),
            {"first_name": "Ada", "timezone": "Europe/Paris"},
            {"id": "u1", "email": "ada@example.test", "cio_id": "c1"},
        )
        self.cart = GraphEntity(
            EntityRef("cart", 2),
            {
                "status": "active",
                "cart_total": 187.45,
                "currency": "EUR",
                "updated_at": 1_700_000_000,
                "checkout_url": "https://shop.example/checkout?cart=cart_1",
            },
            {"object_id": "cart_1", "cio_object_id": "o2"},
        )
        self.items = [
            GraphEntity(
                EntityRef("cart_item", 10 + i),
                {"sku": f"SKU{i}", "price": 12.5 * i, "quantity": i},
                {"object_id": f"item_{i}"},
            )
            for i in range(1, ITEMS + 1)
        ]
        self.products = {
            item.ref: [
                GraphEntity(
                    EntityRef("product", 100 + n),
                    {
                        "name": f"Product {n}",
                        **({"image_url": f"https://cdn.example/{n}.png"} if n != 3 else {}),
                    },
                    {"object_id": f"prod_{n}"},
                )
            ]
            for n, item in enumerate(self.items, start=1)
        }

    def object_type_names(self) -> frozenset[str]:
        return frozenset({"cart", "cart_item", "product"})

    def related(self, refs: Sequence[EntityRef], hop: Hop) -> Mapping[EntityRef, Sequence[GraphEntity]]:
        if hop.name == "items":
            return {ref: self.items for ref in refs if ref == self.cart.ref}
        if hop.name == "product":
            return {ref: self.products[ref] for ref in refs if ref in self.products}
        return {}


def plain_data(graph: CartGraph) -> dict[str, Any]:
    items = [
        {**item.attributes, **item.fields, "product": {**graph.products[item.ref][0].attributes}}
        for item in graph.items
    ]
    cart = {**graph.cart.attributes, **graph.cart.fields, "items": items}
    return {
        "customer": {**graph.person.attributes, **graph.person.fields},
        "trigger": {"cart": cart},
        "links": LINKS,
    }


def rates(work: Callable[[], object], baseline: Callable[[], object], seconds: float) -> tuple[float, float]:
    """Calls per second of ``work`` and of ``baseline``, measured in alternating bursts of 25 calls over
    about ``seconds`` in all, so that both see the same load on a shared, noisy machine."""
    for _ in range(20):
        work()
        baseline()
    spent = [0.0, 0.0]
    count = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for index, function in enumerate((work, baseline)):
            started = time.perf_counter()
            for _ in range(25):
                function()
            spent[index] += time.perf_counter() - started
        count += 25
    return count / spent[0], count / spent[1]


def run(seconds: float = 2.0) -> list[dict[str, Any]]:
    graph = CartGraph()
    engine = TemplateEngine()

    def context() -> MessageContext:
        return MessageContext(
            customer=graph.person,
            trigger_object=graph.cart,
            links=LINKS,
            graph=graph,
            timezone="Europe/Paris",
            contract=CONTRACT,
        )

    def email() -> object:
        outcome = engine.render(EMAIL, context())
        assert isinstance(outcome, Rendered), outcome
        return outcome

    def sms() -> object:
        outcome = engine.render(SMS, context())
        assert isinstance(outcome, Rendered), outcome
        return outcome

    env = liquid.Environment()
    plain_email = env.from_string(PLAIN_HTML)
    plain_subject = env.from_string(EMAIL.subject)
    plain_sms = env.from_string(PLAIN_SMS)
    data = plain_data(graph)

    def baseline_email() -> object:
        return (plain_subject.render(**data), plain_email.render(**data))

    def baseline_sms() -> object:
        return plain_sms.render(**data)

    email_rate, email_baseline = rates(email, baseline_email, 2 * seconds)
    sms_rate, sms_baseline = rates(sms, baseline_sms, 2 * seconds)
    target = f">= {TARGET:,.0f} msg/s per core"
    return [
        {
            "name": f"render {ITEMS}-item cart email (HTML, CSS inlined, text part)",
            "value": email_rate,
            "unit": "msg/s",
            "baseline": email_baseline,
            "baseline_name": "plain python-liquid, same template",
            "target": target,
            "met": email_rate >= TARGET,
        },
        {
            "name": "render cart SMS (with segment count)",
            "value": sms_rate,
            "unit": "msg/s",
            "baseline": sms_baseline,
            "baseline_name": "plain python-liquid, same template",
            "target": target,
            "met": sms_rate >= TARGET,
        },
    ]


def results(seconds: float = 2.0) -> list[Result]:
    """The rows as the benchmark harness's ``Result`` (for ``python -m benchmarks``)."""
    return [
        Result(
            name=row["name"],
            store="memory",
            value=row["value"],
            unit=row["unit"],
            baseline=row["baseline"],
            baseline_name=row["baseline_name"],
            target=row["target"],
            met=row["met"],
        )
        for row in run(seconds)
    ]


def main() -> None:
    print_table(results())


if __name__ == "__main__":
    main()
