"""Message templates per channel, what rendering them produces, and lint findings (SPEC §7).

Every text field of a template is Liquid. ``required`` lists context paths that must hold a
non-empty value (``trigger.cart.items``); a render without one is aborted with ``missing_data``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

JSONValue = Any


@dataclass(frozen=True)
class EmailTemplate:
    """``sender`` is the From header. ``text`` is generated from the HTML when None."""

    channel: ClassVar[str] = "email"
    subject: str
    html: str
    preheader: str = ""
    sender: str = ""
    reply_to: str = ""
    text: str | None = None
    inline_css: bool = True
    required: tuple[str, ...] = ()

    def fields(self) -> dict[str, str]:
        out = {
            "subject": self.subject,
            "preheader": self.preheader,
            "sender": self.sender,
            "reply_to": self.reply_to,
            "html": self.html,
        }
        if self.text is not None:
            out["text"] = self.text
        return out


@dataclass(frozen=True)
class SmsTemplate:
    channel: ClassVar[str] = "sms"
    body: str
    required: tuple[str, ...] = ()

    def fields(self) -> dict[str, str]:
        return {"body": self.body}


@dataclass(frozen=True)
class PushTemplate:
    """``data`` is custom key/value data for the app; each value is Liquid."""

    channel: ClassVar[str] = "push"
    title: str
    body: str
    image: str = ""
    link: str = ""
    data: Mapping[str, str] = field(default_factory=dict)
    required: tuple[str, ...] = ()

    def fields(self) -> dict[str, str]:
        out = {"title": self.title, "body": self.body, "image": self.image, "link": self.link}
        out.update({f"data.{key}": value for key, value in self.data.items()})
        return out


@dataclass(frozen=True)
class WebhookTemplate:
    """``body`` is either Liquid text that must render to JSON, or a JSON value whose strings are Liquid.

    The second form cannot produce invalid JSON: each string is rendered and stays a string.
    """

    channel: ClassVar[str] = "webhook"
    url: str
    method: str = "POST"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str | JSONValue = None
    required: tuple[str, ...] = ()

    def fields(self) -> dict[str, str]:
        out = {"url": self.url, "method": self.method}
        out.update({f"headers.{key}": value for key, value in self.headers.items()})
        if isinstance(self.body, str):
            out["body"] = self.body
        else:
            out.update({f"body{path}": text for path, text in _json_strings(self.body, "")})
        return out


Template = EmailTemplate | SmsTemplate | PushTemplate | WebhookTemplate


def _json_strings(value: JSONValue, path: str) -> list[tuple[str, str]]:
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, Mapping):
        return [pair for key, item in value.items() for pair in _json_strings(item, f"{path}.{key}")]
    if isinstance(value, list | tuple):
        return [pair for i, item in enumerate(value) for pair in _json_strings(item, f"{path}[{i}]")]
    return []


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    preheader: str
    sender: str
    reply_to: str
    html: str
    text: str


@dataclass(frozen=True)
class RenderedSms:
    body: str
    encoding: Literal["GSM-7", "UCS-2"]
    segments: int
    length: int


@dataclass(frozen=True)
class RenderedPush:
    title: str
    body: str
    image: str
    link: str
    data: Mapping[str, str]


@dataclass(frozen=True)
class RenderedWebhook:
    method: str
    url: str
    headers: Mapping[str, str]
    body: JSONValue


Content = RenderedEmail | RenderedSms | RenderedPush | RenderedWebhook


@dataclass(frozen=True)
class Rendered:
    """A message ready to send. ``graph_reads`` counts reader calls (one per relationship level)."""

    content: Content
    graph_reads: int = 0


@dataclass(frozen=True)
class Aborted:
    """The message must not be sent. ``reason`` is stable (``missing_data``, ``render_limit``,
    ``render_error``, ``syntax_error`` or the one given to ``{% abort %}``); ``detail`` says what."""

    reason: str
    detail: str = ""
    field: str = ""


Outcome = Rendered | Aborted

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Finding:
    """One lint finding. ``line`` and ``column`` are 1-based, in ``field`` of the template."""

    field: str
    line: int
    column: int
    code: str
    message: str
    severity: Severity = "error"
