"""Templates and snippets as documents (YAML / JSON / API bodies) and back.

A template document is flat: ``key``, ``channel``, ``name``, ``required`` and the channel's fields::

    key: cart-recovery
    channel: email
    name: Cart recovery
    required: [trigger.cart.items]
    subject: "{{ customer.first_name }}, you left something behind"
    html: "<p>...</p>"

A snippet document is ``{snippet: NAME, source: LIQUID}``. Every error names its field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from relata.core.errors import ValidationError
from relata.core.templates.engine import parse_path
from relata.core.templates.model import EmailTemplate, PushTemplate, SmsTemplate, Template, WebhookTemplate

CHANNELS = ("email", "sms", "push", "webhook")
KEY = re.compile(r"[a-z0-9][a-z0-9_-]{0,99}")
SNIPPET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
MAX_FIELD_CHARS = 512 * 1024
_META = ("key", "channel", "name", "required", "description")
_FIELDS: dict[str, tuple[str, ...]] = {
    "email": ("subject", "preheader", "sender", "from", "reply_to", "html", "text", "inline_css"),
    "sms": ("body",),
    "push": ("title", "body", "image", "link", "data"),
    "webhook": ("method", "url", "headers", "body"),
}
_REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "email": ("subject", "html"),
    "sms": ("body",),
    "push": ("body",),
    "webhook": ("url",),
}


@dataclass(frozen=True)
class TemplateDocument:
    """A template as a resource: its key, channel, display name and the template itself."""

    key: str
    channel: str
    name: str
    template: Template


def check_key(key: object, path: str = "key") -> str:
    if not isinstance(key, str) or not KEY.fullmatch(key):
        raise ValidationError(
            path, "must be 1 to 100 characters of a-z, 0-9, '-' and '_', starting with a letter or digit"
        )
    return key


def check_snippet_name(name: object, path: str = "name") -> str:
    if not isinstance(name, str) or not SNIPPET_NAME.fullmatch(name):
        raise ValidationError(
            path,
            "must be 1 to 100 characters of A-Z, a-z, 0-9, '.', '-' and '_', starting with a letter or digit",
        )
    return name


def _text(document: Mapping[str, Any], name: str, default: str | None = "") -> str | None:
    value = document.get(name)
    if value is None:
        return default
    if not isinstance(value, str):
        raise ValidationError(name, "must be a string")
    if len(value) > MAX_FIELD_CHARS:
        raise ValidationError(name, f"is longer than {MAX_FIELD_CHARS} characters", "too_large")
    return value


def _str(document: Mapping[str, Any], name: str) -> str:
    value = _text(document, name)
    assert value is not None
    return value


def _string_map(document: Mapping[str, Any], name: str) -> dict[str, str]:
    value = document.get(name)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValidationError(name, "must be an object of strings")
    out: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key:
            raise ValidationError(name, "keys must be non-empty strings")
        if not isinstance(item, str):
            raise ValidationError(f"{name}.{key}", "must be a string")
        out[key] = item
    return out


def _required(document: Mapping[str, Any]) -> tuple[str, ...]:
    value = document.get("required")
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ValidationError("required", "must be a list of variable paths")
    paths: list[str] = []
    for index, path in enumerate(value):
        if not isinstance(path, str):
            raise ValidationError(f"required[{index}]", "must be a string")
        try:
            parse_path(path)
        except ValueError as exc:
            raise ValidationError(f"required[{index}]", str(exc)) from None
        paths.append(path.strip())
    return tuple(paths)


def template_from_document(document: object, *, key: str | None = None) -> TemplateDocument:
    """The template a document describes; ``key`` (from a URL) wins over a missing ``key`` field."""
    if not isinstance(document, Mapping):
        raise ValidationError("body", "a template must be a JSON object")
    given_key = document.get("key")
    if key is not None and given_key is not None and given_key != key:
        raise ValidationError("key", f"is {given_key!r} but the URL names {key!r}")
    resolved = check_key(key if key is not None else given_key)
    channel = document.get("channel")
    if channel not in CHANNELS:
        raise ValidationError("channel", f"must be one of {', '.join(CHANNELS)}")
    assert isinstance(channel, str)
    unknown = sorted(set(document) - set(_META) - set(_FIELDS[channel]))
    if unknown:
        allowed = ", ".join(_FIELDS[channel])
        raise ValidationError(unknown[0], f"is not a field of a {channel} template (fields: {allowed})")
    for name in _REQUIRED_FIELDS[channel]:
        if document.get(name) in (None, ""):
            raise ValidationError(name, f"is required for a {channel} template")
    name = _text(document, "name", resolved) or resolved
    if len(name) > 200:
        raise ValidationError("name", "is longer than 200 characters")
    _text(document, "description")
    required = _required(document)
    template: Template
    if channel == "email":
        if document.get("from") is not None and document.get("sender") is not None:
            raise ValidationError("from", "give either from or sender, not both")
        inline = document.get("inline_css", True)
        if not isinstance(inline, bool):
            raise ValidationError("inline_css", "must be true or false")
        template = EmailTemplate(
            subject=_str(document, "subject"),
            html=_str(document, "html"),
            preheader=_str(document, "preheader"),
            sender=_text(document, "sender", None) or _str(document, "from"),
            reply_to=_str(document, "reply_to"),
            text=_text(document, "text", None),
            inline_css=inline,
            required=required,
        )
    elif channel == "sms":
        template = SmsTemplate(body=_str(document, "body"), required=required)
    elif channel == "push":
        template = PushTemplate(
            title=_str(document, "title"),
            body=_str(document, "body"),
            image=_str(document, "image"),
            link=_str(document, "link"),
            data=_string_map(document, "data"),
            required=required,
        )
    else:
        body = document.get("body")
        if isinstance(body, str) and len(body) > MAX_FIELD_CHARS:
            raise ValidationError("body", f"is longer than {MAX_FIELD_CHARS} characters", "too_large")
        template = WebhookTemplate(
            url=_str(document, "url"),
            method=_text(document, "method", "POST") or "POST",
            headers=_string_map(document, "headers"),
            body=body,
            required=required,
        )
    return TemplateDocument(resolved, channel, name, template)


def template_content(template: Template) -> dict[str, Any]:
    """The channel's fields and ``required`` as stored (and returned by the API)."""
    content: dict[str, Any]
    if isinstance(template, EmailTemplate):
        content = {
            "subject": template.subject,
            "preheader": template.preheader,
            "sender": template.sender,
            "reply_to": template.reply_to,
            "html": template.html,
            "text": template.text,
            "inline_css": template.inline_css,
        }
    elif isinstance(template, SmsTemplate):
        content = {"body": template.body}
    elif isinstance(template, PushTemplate):
        content = {
            "title": template.title,
            "body": template.body,
            "image": template.image,
            "link": template.link,
            "data": dict(template.data),
        }
    else:
        content = {
            "method": template.method,
            "url": template.url,
            "headers": dict(template.headers),
            "body": template.body,
        }
    content["required"] = list(template.required)
    return content


def template_from_content(channel: str, content: Mapping[str, Any]) -> Template:
    """A stored template back (content written by ``template_content``)."""
    return template_from_document({**content, "key": "stored", "channel": channel}).template


def snippet_from_document(document: object, *, name: str | None = None) -> tuple[str, str]:
    """``(name, source)`` of a snippet document ``{snippet|name: NAME, source: LIQUID}``."""
    if not isinstance(document, Mapping):
        raise ValidationError("body", "a snippet must be a JSON object with source")
    given = document.get("snippet", document.get("name"))
    if name is not None and given is not None and given != name:
        raise ValidationError("name", f"is {given!r} but the URL names {name!r}")
    resolved = check_snippet_name(name if name is not None else given, "snippet" if name is None else "name")
    unknown = sorted(set(document) - {"snippet", "name", "source", "description"})
    if unknown:
        raise ValidationError(unknown[0], "is not a field of a snippet (fields: name, source)")
    source = document.get("source")
    if not isinstance(source, str):
        raise ValidationError("source", "is required and must be a string")
    if len(source) > MAX_FIELD_CHARS:
        raise ValidationError("source", f"is longer than {MAX_FIELD_CHARS} characters", "too_large")
    return resolved, source


def is_snippet_document(document: object) -> bool:
    return isinstance(document, Mapping) and "snippet" in document
