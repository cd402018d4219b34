"""Liquid message templates (SPEC §7): channel templates, rendering to a value, lint against the contract.

    outcome = render(EmailTemplate(subject=..., html=..., required=("trigger.cart.items",)), context)
    findings = lint(template, contract)

Rendering never raises for data problems: the outcome is ``Rendered(content)`` or ``Aborted(reason,
detail, field)``. Related objects are read through a ``GraphReader`` (storage implements it in
``relata.storage.template_graph``), lazily and one batch per relationship level.
"""

from relata.core.templates.context import EventData, MessageContext
from relata.core.templates.engine import DEFAULT_ENGINE, TemplateEngine, render
from relata.core.templates.graph import EmptyGraph, EntityRef, GraphEntity, GraphReader, Hop, resolve_hop
from relata.core.templates.lint import lint, lint_source
from relata.core.templates.model import (
    Aborted,
    Content,
    EmailTemplate,
    Finding,
    Outcome,
    PushTemplate,
    Rendered,
    RenderedEmail,
    RenderedPush,
    RenderedSms,
    RenderedWebhook,
    SmsTemplate,
    Template,
    WebhookTemplate,
)
from relata.core.templates.sandbox import Limits
from relata.core.templates.sms import segment_count

__all__ = [
    "DEFAULT_ENGINE",
    "Aborted",
    "Content",
    "EmailTemplate",
    "EmptyGraph",
    "EntityRef",
    "EventData",
    "Finding",
    "GraphEntity",
    "GraphReader",
    "Hop",
    "Limits",
    "MessageContext",
    "Outcome",
    "PushTemplate",
    "Rendered",
    "RenderedEmail",
    "RenderedPush",
    "RenderedSms",
    "RenderedWebhook",
    "SmsTemplate",
    "Template",
    "TemplateEngine",
    "WebhookTemplate",
    "lint",
    "lint_source",
    "render",
    "resolve_hop",
    "segment_count",
]
