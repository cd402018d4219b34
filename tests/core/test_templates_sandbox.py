"""Sandbox: no file system, no network, and limits on time, output, loops and related entities."""

from __future__ import annotations

import itertools
from pathlib import Path

from test_templates_support import cart_graph

from relata.core.templates import (
    Aborted,
    EmailTemplate,
    Limits,
    MessageContext,
    Rendered,
    RenderedEmail,
    RenderedSms,
    SmsTemplate,
    TemplateEngine,
)


def test_loop_iteration_limit() -> None:
    engine = TemplateEngine(limits=Limits(loop_iterations=1000))
    outcome = engine.render(
        SmsTemplate("{% for i in (1..100) %}{% for j in (1..100) %}.{% endfor %}{% endfor %}"),
        MessageContext(),
    )
    assert isinstance(outcome, Aborted)
    assert outcome.reason == "render_limit" and "loop iteration limit" in outcome.detail
    assert isinstance(
        engine.render(
            SmsTemplate("{% for i in (1..30) %}{% for j in (1..30) %}.{% endfor %}{% endfor %}"),
            MessageContext(),
        ),
        Rendered,
    )


def test_output_size_limit() -> None:
    engine = TemplateEngine(limits=Limits(output_chars=1000, loop_iterations=10**6))
    outcome = engine.render(SmsTemplate("{% for i in (1..500) %}abc{% endfor %}"), MessageContext())
    assert isinstance(outcome, Aborted)
    assert outcome.reason == "render_limit" and "output" in outcome.detail
    captured = engine.render(
        SmsTemplate("{% capture x %}{% for i in (1..500) %}abc{% endfor %}{% endcapture %}"), MessageContext()
    )
    assert isinstance(captured, Aborted) and captured.reason == "render_limit"


def test_render_time_limit_with_an_injected_clock() -> None:
    ticks = itertools.count()
    engine = TemplateEngine(
        limits=Limits(render_seconds=50, loop_iterations=10**6), clock=lambda: float(next(ticks))
    )
    outcome = engine.render(SmsTemplate("{% for i in (1..5000) %}{{ i }}{% endfor %}"), MessageContext())
    assert isinstance(outcome, Aborted)
    assert outcome.reason == "render_limit" and "longer than 50 s" in outcome.detail


def test_related_entity_limit() -> None:
    _, context = cart_graph(items=30)
    engine = TemplateEngine(limits=Limits(related_entities=20))
    outcome = engine.render(SmsTemplate("{{ trigger.cart.items.size }}"), context)
    assert outcome == Aborted("render_limit", "more than 20 related entities loaded", "body")


def test_no_file_system_includes(tmp_path: Path) -> None:
    secret = tmp_path / "secret.liquid"
    secret.write_text("TOP SECRET")
    for body in (
        f"{{% include '{secret}' %}}",
        f"{{% render '{secret}' %}}",
        "{% include '../../etc/passwd' %}",
    ):
        outcome = TemplateEngine().render(SmsTemplate(body), MessageContext())
        assert isinstance(outcome, Aborted) and outcome.reason == "render_error", body
        assert "not found" in outcome.detail


def test_snippets_come_from_the_in_memory_store() -> None:
    engine = TemplateEngine(snippets={"footer": "Bye {{ name }}", "loop": "{% render 'loop' %}"})
    outcome = engine.render(
        SmsTemplate("Hi. {% render 'footer', name: customer.first_name %}"), cart_graph(items=1)[1]
    )
    assert isinstance(outcome, Rendered) and isinstance(outcome.content, RenderedSms)
    assert outcome.content.body == "Hi. Bye Ada"
    recursive = engine.render(SmsTemplate("{% render 'loop' %}"), MessageContext())
    assert isinstance(recursive, Aborted) and recursive.reason == "render_limit"


def test_css_inlining_fetches_nothing(tmp_path: Path) -> None:
    sheet = tmp_path / "evil.css"
    sheet.write_text("p { color: red }")
    html = (
        f'<html><head><link rel="stylesheet" href="{sheet}"><link rel="stylesheet" href="file://{sheet}">'
        '<link rel="stylesheet" href="http://127.0.0.1:9/x.css"><style>h1{color:blue}</style></head>'
        "<body><h1>a</h1><p>b</p></body></html>"
    )
    outcome = TemplateEngine().render(EmailTemplate(subject="s", html=html), MessageContext())
    assert isinstance(outcome, Rendered) and isinstance(outcome.content, RenderedEmail)
    assert '<h1 style="color: blue;">' in outcome.content.html
    assert "red" not in outcome.content.html and "<link" not in outcome.content.html
