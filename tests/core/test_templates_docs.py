"""The cart recovery example in docs/templates.md renders, aborts and lints as the page says."""

from __future__ import annotations

import re
from pathlib import Path

from test_templates_support import CONTRACT, cart_graph

from relata.core.templates import Aborted, EmailTemplate, Rendered, RenderedEmail, lint, render

DOC = Path(__file__).parents[2] / "docs" / "templates.md"


def example() -> EmailTemplate:
    found = re.search(r"Template:\n\n```python\n(EmailTemplate\(.*?\n\))\n```", DOC.read_text(), re.DOTALL)
    assert found is not None
    template = eval(found.group(1), {"EmailTemplate": EmailTemplate})
    assert isinstance(template, EmailTemplate)
    return template


def test_documented_example_renders_and_lints_clean() -> None:
    template = example()
    _, context = cart_graph(items=5)
    outcome = render(template, context)
    assert isinstance(outcome, Rendered) and isinstance(outcome.content, RenderedEmail)
    assert outcome.content.subject == "Ada, you left 5 items behind"
    assert "https://cdn.example.com/placeholder.png" in outcome.content.html
    assert lint(template, CONTRACT) == []
    assert render(template, cart_graph(items=0)[1]) == Aborted(
        "missing_data", "trigger.cart.items", "required"
    )
