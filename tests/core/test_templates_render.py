"""Rendering: context names, lazy relationships, outcomes, channels."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from test_templates_support import CONTRACT, MemoryGraph, cart_graph

from relata.core.contract import PERSON
from relata.core.templates import (
    Aborted,
    EmailTemplate,
    EventData,
    MessageContext,
    PushTemplate,
    Rendered,
    RenderedEmail,
    RenderedPush,
    RenderedSms,
    RenderedWebhook,
    SmsTemplate,
    WebhookTemplate,
    render,
)


def sms(body: str, context: MessageContext, required: tuple[str, ...] = ()) -> str:
    outcome = render(SmsTemplate(body, required=required), context)
    assert isinstance(outcome, Rendered), outcome
    assert isinstance(outcome.content, RenderedSms)
    return outcome.content.body


CART_EMAIL = EmailTemplate(
    subject="{{ customer.first_name }}, you left {{ trigger.cart.items.size }} "
    "{{ trigger.cart.items.size | pluralize: 'item', 'items' }} behind",
    preheader="Your cart total is {{ trigger.cart.cart_total | money: trigger.cart.currency }}",
    sender="Shop <shop@example.test>",
    html="""<html><head><style>.name { font-weight: bold }</style></head><body>
<h1>Still thinking it over, {{ customer.first_name | default: "friend" }}?</h1>
<table>
{% for item in trigger.cart.items %}
  <tr><td><img src="{{ item.product.image_url | image_fallback: 'https://img.test/placeholder.png' }}"
           alt="{{ item.product.name }}"></td>
      <td class="name">{{ item.product.name }}</td>
      <td>{{ item.quantity }} x {{ item.price | money: trigger.cart.currency }}</td>
      <td>{{ item.product.variants | where: "in_stock", true | map: "title" | join: ", " }}</td></tr>
{% endfor %}
</table>
<p><a href="{{ trigger.cart.checkout_url | url_param: 'utm_source', 'email' }}">Back to your cart</a></p>
<p><a href="{% unsubscribe_url %}">Unsubscribe</a></p>
</body></html>""",
    required=("trigger.cart.items",),
)


def test_cart_email_with_several_items_and_variants() -> None:
    graph, context = cart_graph(items=5)
    outcome = render(CART_EMAIL, context)
    assert isinstance(outcome, Rendered), outcome
    email = outcome.content
    assert isinstance(email, RenderedEmail)
    assert email.subject == "Ada, you left 5 items behind"
    assert email.preheader == "Your cart total is €62.50"
    assert email.sender == "Shop <shop@example.test>"
    for i in range(1, 6):
        assert f"Product {i}" in email.html
    assert email.html.count("€12.50") == 5
    assert email.html.count("Size S") == 5 and "Size M" not in email.html
    assert "https://img.test/placeholder.png" in email.html  # product 3 has no image
    assert "https://img.test/1.png" in email.html
    assert "https://shop.test/checkout?c=1&amp;utm_source=email" in email.html or (
        "https://shop.test/checkout?c=1&utm_source=email" in email.html
    )
    assert 'class="name" style="font-weight: bold;"' in email.html  # CSS inlined
    assert "<style" not in email.html
    assert "Your cart total is €62.50</div>" in email.html  # hidden preheader
    assert "Unsubscribe (https://t.test/u/1)" in email.text
    assert "Product 5" in email.text and "<td" not in email.text
    # cart -> items (1 call), items -> products (1 call for all 5), products -> variants (1 call)
    assert [(size, hop.name) for size, hop in graph.calls] == [(1, "items"), (5, "product"), (5, "variants")]
    assert outcome.graph_reads == 3


def test_single_item_singular_and_text_part_given() -> None:
    _, context = cart_graph(items=1)
    template = EmailTemplate(subject=CART_EMAIL.subject, html="<p>x</p>", text="Plain {{ customer.email }}")
    outcome = render(template, context)
    assert isinstance(outcome, Rendered)
    assert isinstance(outcome.content, RenderedEmail)
    assert outcome.content.subject == "Ada, you left 1 item behind"
    assert outcome.content.text == "Plain ada@example.test"


def test_empty_cart_aborts_on_required_path() -> None:
    graph, context = cart_graph(items=0)
    assert render(CART_EMAIL, context) == Aborted("missing_data", "trigger.cart.items", "required")
    assert len(graph.calls) == 1


@pytest.mark.parametrize(
    ("path", "missing"),
    [
        ("customer.first_name", False),
        ("customer.nickname", True),
        ("trigger.cart.items[0].product.name", False),
        ("trigger.cart.items[9].sku", True),
        ('trigger.cart["checkout_url"]', False),
        ("message_data.coupon", True),
        ("trigger.relationship.role", False),
    ],
)
def test_required_paths(path: str, missing: bool) -> None:
    _, context = cart_graph(items=2)
    outcome = render(SmsTemplate("ok", required=(path,)), context)
    assert outcome == (Aborted("missing_data", path, "required") if missing else outcome)
    assert isinstance(outcome, Aborted) == missing


def test_customer_io_variable_names() -> None:
    _, cart_context = cart_graph(items=1)
    context = MessageContext(
        customer=cart_context.customer,
        trigger_object=cart_context.trigger_object,
        trigger_relationship={"role": "owner"},
        trigger_data={"coupon": "SAVE10"},
        event=EventData("added_to_cart", {"sku": "SKU-1", "price": 3}, id="ev_1", timestamp=1_700_000_000),
        journey={"step": 2},
        message_data={"order_id": "A-1"},
        extra={"campaign": {"id": 7, "name": "Cart recovery"}},
        graph=cart_context.graph,
        contract=CONTRACT,
    )
    body = (
        "{{ customer.id }}|{{ customer.email }}|{{ customer.cio_id }}|{{ customer.plan }}|"
        "{{ event.sku }}|{{ event_name }}|{{ event_id }}|{{ event_timestamp }}|"
        "{{ trigger.cart.object_id }}|{{ trigger.cart.status }}|{{ trigger.relationship.role }}|"
        "{{ trigger.customer.first_name }}|{{ trigger.coupon }}|{{ journey.step }}|"
        "{{ message_data.order_id }}|{{ campaign.name }}|{{ trigger.cart.shoppers.first.id }}"
    )
    assert sms(body, context) == (
        "u_1|ada@example.test|cio_1|pro|SKU-1|added_to_cart|ev_1|1700000000|cart_1|active|owner|"
        "Ada|SAVE10|2|A-1|Cart recovery|u_1"
    )


def test_missing_variables_render_empty() -> None:
    _, context = cart_graph(items=1)
    assert sms(
        "[{{ customer.nickname }}][{{ nope.deeper }}][{{ trigger.cart.items.first.nothing }}]", context
    ) == ("[][][]")


def test_where_first_on_relationship_and_related_list_reads_like_first_item() -> None:
    graph = MemoryGraph()
    person = graph.add(PERSON, {"first_name": "Bo"}, id="b")
    for status, total in (("converted", 10), ("active", 20), ("abandoned", 30)):
        graph.link(person, graph.add("cart", {"status": status, "cart_total": total, "currency": "USD"}))
    context = MessageContext(customer=person, graph=graph, contract=CONTRACT)
    body = (
        '{% assign cart = customer.carts | where: "status", "active" | first %}'
        "{{ cart.cart_total | money: cart.currency }} of {{ customer.carts.size }}; "
        "first: {{ customer.carts.status }}; "
        "sorted: {{ customer.carts | sort: 'cart_total' | map: 'status' | last }}"
    )
    assert sms(body, context) == "$20.00 of 3; first: converted; sorted: abandoned"
    assert len(graph.calls) == 1  # the relationship is loaded once and reused


def test_without_contract_type_names_are_relationship_names() -> None:
    graph, context = cart_graph(items=2)
    bare = MessageContext(customer=context.customer, trigger_object=context.trigger_object, graph=graph)
    body = (
        "{% for item in trigger.cart.cart_item %}{{ item.product.name }};{% endfor %}{{ customer.cart.size }}"
    )
    assert sms(body, bare) == "Product 1;Product 2;1"
    assert sms("{{ trigger.cart.person.first_name }}", bare) == "Ada"
    assert sms("{{ trigger.cart.items.size }}", bare) == ""  # contract names need the contract


def test_contract_inverse_names() -> None:
    _, context = cart_graph(items=2)
    assert sms("{% for item in trigger.cart.items %}{{ item.cart.object_id }} {% endfor %}", context) == (
        "cart_1 cart_1"
    )


def test_abort_tag() -> None:
    _, context = cart_graph(items=2)
    template = SmsTemplate(
        '{% if trigger.cart.cart_total < 100 %}{% abort "cart_too_small" %}{% endif %}Buy!'
    )
    assert render(template, context) == Aborted("cart_too_small", "", "body")
    assert render(SmsTemplate("{% abort %}"), context) == Aborted("aborted", "", "body")
    assert render(SmsTemplate("{% abort trigger.cart.status %}"), context) == Aborted("active", "", "body")


def test_link_tags_and_missing_links() -> None:
    _, context = cart_graph(items=1)
    body = "{% unsubscribe_url %} {% preferences_url %} {% view_in_browser_url %}"
    assert sms(body, context) == "https://t.test/u/1 https://t.test/p/1 https://t.test/v/1"
    without = MessageContext(customer=context.customer)
    assert render(SmsTemplate(body), without) == Aborted("missing_data", "links.unsubscribe_url", "body")
    assert render(SmsTemplate("{% unsubscribe_url 'x' %}"), context).reason == "syntax_error"  # type: ignore[union-attr]


def test_data_problems_abort_never_raise() -> None:
    _, context = cart_graph(items=1)
    bad = MessageContext(customer=context.customer, message_data={"total": "lots"}, graph=context.graph)
    outcome = render(SmsTemplate("{{ message_data.total | money }}"), bad)
    assert isinstance(outcome, Aborted)
    assert outcome.reason == "render_error"
    assert "money expects a number" in outcome.detail and "line 1" in outcome.detail
    assert render(SmsTemplate("{{ 1 | no_such_filter }}"), context).reason == "render_error"  # type: ignore[union-attr]
    syntax = render(SmsTemplate("hello\n{% if %}"), context)
    assert isinstance(syntax, Aborted) and syntax.reason == "syntax_error" and "line 2" in syntax.detail


def test_sms_segments() -> None:
    context = MessageContext()
    for body, expected in [
        ("a" * 160, ("GSM-7", 1, 160)),
        ("a" * 161, ("GSM-7", 2, 161)),
        ("€" * 80, ("GSM-7", 1, 160)),
        ("€" * 81, ("GSM-7", 2, 162)),
        ("é" * 70, ("GSM-7", 1, 70)),
        ("Привет" * 11, ("UCS-2", 1, 66)),
        ("Привет" * 12, ("UCS-2", 2, 72)),
        ("🙂" * 35, ("UCS-2", 1, 70)),
        ("a" * 153 * 3, ("GSM-7", 3, 459)),
    ]:
        outcome = render(SmsTemplate(body), context)
        assert isinstance(outcome, Rendered) and isinstance(outcome.content, RenderedSms)
        content = outcome.content
        assert (content.encoding, content.segments, content.length) == expected, body[:10]


def test_push_template() -> None:
    _, context = cart_graph(items=2)
    template = PushTemplate(
        title="{{ customer.first_name }}, your cart",
        body="{{ trigger.cart.items.size }} items, "
        "{{ trigger.cart.cart_total | money: trigger.cart.currency }}",
        image="{{ trigger.cart.items.first.product.image_url }}",
        link="{{ trigger.cart.checkout_url }}",
        data={"cart_id": "{{ trigger.cart.object_id }}", "kind": "cart"},
    )
    outcome = render(template, context)
    assert isinstance(outcome, Rendered)
    assert outcome.content == RenderedPush(
        "Ada, your cart",
        "2 items, €25.00",
        "https://img.test/1.png",
        "https://shop.test/checkout?c=1",
        {"cart_id": "cart_1", "kind": "cart"},
    )


def test_webhook_template_structured_and_text_bodies() -> None:
    _, context = cart_graph(items=2)
    structured = WebhookTemplate(
        url="https://hooks.test/{{ customer.id }}",
        method="post",
        headers={"X-Cart": "{{ trigger.cart.object_id }}"},
        body={
            "email": "{{ customer.email }}",
            "quote": 'say "{{ customer.first_name }}"',
            "n": 3,
            "skus": ["{{ trigger.cart.items | map: 'sku' | join: ',' }}"],
        },
    )
    outcome = render(structured, context)
    assert isinstance(outcome, Rendered)
    assert outcome.content == RenderedWebhook(
        "POST",
        "https://hooks.test/u_1",
        {"X-Cart": "cart_1"},
        {"email": "ada@example.test", "quote": 'say "Ada"', "n": 3, "skus": ["SKU-1,SKU-2"]},
    )
    text = WebhookTemplate(
        url="https://hooks.test/x", body='{"items": {{ trigger.cart.items | map: "sku" | json }}}'
    )
    outcome = render(text, context)
    assert isinstance(outcome, Rendered) and isinstance(outcome.content, RenderedWebhook)
    assert outcome.content.body == {"items": ["SKU-1", "SKU-2"]}
    broken = render(WebhookTemplate(url="https://hooks.test/x", body="{ {{ customer.id }} }"), context)
    assert isinstance(broken, Aborted) and broken.reason == "render_error" and "not JSON" in broken.detail
    assert render(WebhookTemplate(url="file:///etc/passwd"), context).reason == "render_error"  # type: ignore[union-attr]
    assert render(WebhookTemplate(url="https://x.test", method="TRACE"), context).reason == "render_error"  # type: ignore[union-attr]


def test_json_filter_shows_entities() -> None:
    _, context = cart_graph(items=1)
    assert sms("{{ trigger.cart.items.first | json }}", context) == (
        '{"sku":"SKU-1","price":12.5,"quantity":1,"object_id":"item_1"}'
    )


def test_now_is_the_given_instant_not_the_clock() -> None:
    context = MessageContext(now=datetime(2030, 5, 17, 22, 30, tzinfo=UTC), timezone="Asia/Tokyo")
    assert (
        sms("{{ 'now' | date: '%Y-%m-%d %H:%M' }} {{ now | date: '%d', 'UTC' }}", context)
        == "2030-05-18 07:30 17"
    )
    assert sms("[{{ now }}]", MessageContext()) == "[]"
