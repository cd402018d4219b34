"""Lint against the data contract: every finding with its line and column."""

from __future__ import annotations

from test_templates_support import CONTRACT

from relata.core.contract import EMPTY
from relata.core.templates import EmailTemplate, Finding, SmsTemplate, lint, lint_source


def codes(findings: list[Finding]) -> list[tuple[str, int, int, str]]:
    return [(f.field, f.line, f.column, f.code) for f in findings]


def test_clean_cart_template_has_no_findings() -> None:
    source = """{% assign cart = customer.carts | where: "status", "active" | first %}
{{ customer.first_name }} {{ customer.email }} {{ cart.cart_total | money: cart.currency }}
{% for item in trigger.cart.items %}{{ item.sku }} {{ item.price | money: trigger.cart.currency }}
  {% for v in item.product.variants %}{{ v.title }}{{ forloop.index }}{% endfor %}{% endfor %}
{{ trigger.cart.updated_at | date: "%b %d", "UTC" }} {{ trigger.cart.items.size | pluralize: "item" }}
{{ event.anything.goes }} {{ journey.step }} {{ message_data.x }} {{ trigger.relationship.role }}
{% capture greeting %}Hi{% endcapture %}{{ greeting }} {% unsubscribe_url %}"""
    assert lint_source(source, CONTRACT) == []


def test_unknown_attribute_and_relationship_with_position() -> None:
    source = "Hi {{ customer.first_nam }}\n  {% for item in trigger.cart.itemz %}{{ item.sku }}{% endfor %}"
    findings = lint_source(source, CONTRACT, field="html")
    assert codes(findings) == [("html", 1, 7, "unknown_attribute"), ("html", 2, 18, "unknown_relationship")]
    assert "did you mean 'first_name'" in findings[0].message
    assert "cart has no relationship 'itemz'" in findings[1].message


def test_loop_variables_take_the_related_type() -> None:
    source = "{% for item in trigger.cart.items %}\n{{ item.prce }} {{ item.product.nme }}{% endfor %}"
    assert codes(lint_source(source, CONTRACT)) == [
        ("body", 2, 4, "unknown_attribute"),
        ("body", 2, 20, "unknown_attribute"),
    ]


def test_type_misuse() -> None:
    source = (
        "{{ trigger.cart.status | money }}\n"
        "{{ customer.first_name | date: '%Y' }}{{ trigger.cart.items | money }}"
    )
    findings = lint_source(source, CONTRACT)
    assert codes(findings) == [("body", 1, 26, "type_mismatch"), ("body", 2, 63, "type_mismatch")]
    assert findings[0].message == "money applied to an enum attribute"
    assert findings[1].message == "money applied to a list of objects"


def test_where_keys_are_checked() -> None:
    findings = lint_source('{{ customer.carts | where: "state", "active" | size }}', CONTRACT)
    assert codes(findings) == [("body", 1, 28, "unknown_attribute")]


def test_syntax_errors_with_position() -> None:
    assert codes(lint_source("line one\n  {% if %}x{% endif %}", CONTRACT)) == [
        ("body", 2, 6, "syntax_error")
    ]
    assert codes(lint_source("a\n\n {{ customer.first_name | }}", CONTRACT)) == [
        ("body", 3, 2, "syntax_error")
    ]
    assert codes(lint_source("{% for x in y %}\nnever closed", CONTRACT)) == [("body", 1, 4, "syntax_error")]
    assert codes(lint_source("{% frobnicate %}", CONTRACT)) == [("body", 1, 4, "syntax_error")]


def test_unknown_filter_and_variable() -> None:
    findings = lint_source("{{ customer.first_name | shout }} {{ nonsense.x }}", CONTRACT)
    assert codes(findings) == [("body", 1, 26, "unknown_filter"), ("body", 1, 38, "unknown_variable")]
    assert findings[1].severity == "warning"
    assert lint_source("{{ nonsense.x }}", CONTRACT, extra_roots=["nonsense"]) == []


def test_without_contract_only_syntax_and_filters_are_checked() -> None:
    assert lint_source("{{ customer.whatever }} {{ trigger.cart.anything.deep }}", EMPTY) == []
    assert codes(lint_source("{{ x | bogus }}", EMPTY)) == [
        ("body", 1, 8, "unknown_filter"),
        ("body", 1, 4, "unknown_variable"),
    ]


def test_lint_template_fields_and_required_paths() -> None:
    template = EmailTemplate(
        subject="{{ customer.frist_name }}",
        html="<p>{{ trigger.cart.cart_totl }}</p>",
        required=("trigger.cart.items", "trigger.cart.itms", "not a path"),
    )
    assert codes(lint(template, CONTRACT)) == [
        ("subject", 1, 4, "unknown_attribute"),
        ("html", 1, 7, "unknown_attribute"),
        ("required[1]", 1, 1, "unknown_attribute"),
        ("required[2]", 1, 1, "syntax_error"),
    ]
    assert lint(SmsTemplate("{{ customer.plan }}"), CONTRACT) == []
