"""Preparing email templates: CSS inlined once into the template, and the fast plain-text part."""

from __future__ import annotations

import pytest
from test_templates_support import cart_graph

from relata.core.templates import EmailTemplate, Rendered, RenderedEmail, TemplateEngine
from relata.core.templates.html import _scan_text, html_to_text, inline_css, inline_css_source


def test_inlines_into_the_template_and_keeps_liquid() -> None:
    source = (
        "<html><head><style>.price { text-align: right } td { padding: 4px }</style></head><body><table>"
        '{% for item in trigger.cart.items %}<tr><td class="price" data-sku="{{ item.sku }}">'
        "{{ item.price | money }}</td></tr>{% endfor %}</table>"
        "{% if x < 3 %}<p>y</p>{% endif %}</body></html>"
    )
    prepared = inline_css_source(source)
    assert prepared is not None
    assert "<style" not in prepared
    assert '<td class="price" data-sku="{{ item.sku }}" style="' in prepared
    assert "text-align: right;" in prepared and "padding: 4px;" in prepared
    assert "{% for item in trigger.cart.items %}<tr>" in prepared  # no tbody, no moved Liquid
    assert "{% if x < 3 %}<p>y</p>{% endif %}" in prepared


@pytest.mark.parametrize(
    "source",
    [
        "<style>td:first-child { color: red }</style><table><tr><td>x</td></tr></table>",
        "<style>tr + tr { color: red }</style><p>x</p>",
        "<style>a[href^='https'] { color: red }</style><p>x</p>",
        "<style>.{{ c }} { color: red }</style><p>x</p>",
        '<style>.a { color: red }</style><p class="{{ c }}">x</p>',
        '<style>.a { color: red }</style><p style="color: {{ c }}">x</p>',
        '<style>.a { color: red }</style><p {% if c %}class="a"{% endif %}>x</p>',
        "<style>.a { color: red }</style>{% render 'part' %}",
        "<link rel=stylesheet href=x.css><style>.a { color: red }</style><p>x</p>",
    ],
)
def test_declines_when_the_result_could_differ(source: str) -> None:
    assert inline_css_source(source) is None


def test_without_style_the_source_is_unchanged() -> None:
    assert inline_css_source("<p>{{ x }}</p>") == "<p>{{ x }}</p>"


def test_prepared_render_matches_inlining_each_message() -> None:
    html = (
        "<html><head><style>.name { font-weight: bold } td { padding: 2px }</style></head><body><table>"
        '{% for item in trigger.cart.items %}<tr><td class="name">{{ item.product.name }}</td>'
        "<td>{{ item.price | money: trigger.cart.currency }}</td></tr>{% endfor %}</table></body></html>"
    )
    engine = TemplateEngine()
    _, context = cart_graph(items=3)
    fast = engine.render(EmailTemplate(subject="s", html=html), context)
    slow = engine.render(EmailTemplate(subject="s", html=html, inline_css=False), context)
    assert isinstance(fast, Rendered) and isinstance(slow, Rendered)
    assert isinstance(fast.content, RenderedEmail) and isinstance(slow.content, RenderedEmail)
    per_message = inline_css(slow.content.html)
    assert fast.content.html.count("font-weight: bold;") == per_message.count("font-weight: bold;") == 3
    assert fast.content.html.count("padding: 2px;") == per_message.count("padding: 2px;") == 6
    assert fast.content.text == slow.content.text
    assert engine.prepare(EmailTemplate(subject="s", html=html)) is engine.prepare(
        EmailTemplate(subject="s", html=html)
    )


@pytest.mark.parametrize(
    "html",
    [
        '<p>Hello <b>you</b></p><p><a href="https://x/?a=1&amp;b=2">Go</a> and <a href="#top">top</a></p>',
        "<ul><li>one</li><li>two &amp; three</li></ul><table><tr><td>a</td><td>b</td></tr></table>"
        '<img alt="Pic" src=x>',
        "<html><head><title>T</title><style>p{}</style></head><body>x<br>y<hr>z 1 < 2</body></html>",
        "<div>a<a href='mailto:x@y'>mail</a></div><!-- note --><script>var a = '<p>';</script>b",
        "<h1>Title</h1>\n\n   <p>  spaced\n text </p><blockquote>q</blockquote>",
    ],
)
def test_fast_text_part_agrees_with_the_scanner(html: str) -> None:
    assert html_to_text(html) == _scan_text(html)


def test_hidden_elements_use_the_scanner() -> None:
    html = '<div style="display: none">secret</div><p>shown</p>'
    assert html_to_text(html) == "shown"


def test_text_part_of_an_unclosed_tag_is_linear() -> None:
    html = "<p>Hi <b" + " x" * 2000  # no ">" follows: not a tag, and found so at once
    assert html_to_text(html) == "Hi <b" + " x" * 2000
