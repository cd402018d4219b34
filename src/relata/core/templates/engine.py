"""Render a channel template against a message context; the result is a value, never an exception.

``TemplateEngine.render(template, context)`` returns ``Rendered(content)`` or ``Aborted(reason,
detail, field)``. Data problems (a missing required path, a filter given text where it needs a
number, a missing unsubscribe link), ``{% abort %}`` and sandbox limits all become ``Aborted``; only a
failing ``GraphReader`` (storage down) raises.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from liquid import BoundTemplate, DictLoader, Environment, Mode, Token
from liquid.exceptions import LiquidError, LiquidSyntaxError, ResourceLimitError, TemplateNotFoundError
from liquid.token import TOKEN_EXPRESSION, TOKEN_OUTPUT, TOKEN_TAG

from relata.core.templates.context import MessageContext, build_variables
from relata.core.templates.filters import FILTERS
from relata.core.templates.graph import GraphLimitError, LazyEntity, LazyGraph, RelatedList
from relata.core.templates.html import html_to_text, inline_css, inline_css_source, insert_preheader
from relata.core.templates.model import (
    Aborted,
    EmailTemplate,
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
from relata.core.templates.sandbox import (
    AbortSignal,
    Budget,
    LimitedOutput,
    Limits,
    RenderLimitError,
    RenderState,
    SandboxContext,
)
from relata.core.templates.sms import segment_count
from relata.core.templates.tags import TAGS, MissingLink

_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
_PATH_PART = re.compile(r"""\.?([A-Za-z_][\w-]*\??)|\[(-?\d+)\]|\[(["'])(.*?)\3\]""")


def make_environment(limits: Limits, snippets: Mapping[str, str] | None = None) -> Environment:
    """A Liquid environment with Relata's filters and tags and the sandbox's Liquid-level limits.

    ``include``/``render`` read only ``snippets`` (an in-memory store), never the file system.
    """

    class SandboxEnvironment(Environment):
        loop_iteration_limit = limits.loop_iterations
        output_stream_limit = limits.output_chars
        local_namespace_limit = limits.local_namespace_bytes

    loader = DictLoader(dict(snippets or {}))
    env = SandboxEnvironment(tolerance=Mode.STRICT, loader=loader, strict_filters=True)
    for tag in TAGS:
        env.add_tag(tag)
    for name, func in FILTERS.items():
        env.add_filter(name, func)
    return env


class _Stop(Exception):
    def __init__(self, outcome: Aborted) -> None:
        super().__init__(outcome.reason)
        self.outcome = outcome


def line_column(source: str, index: int) -> tuple[int, int]:
    """1-based line and column of ``index`` in ``source`` (1, 1 when unknown)."""
    if index < 0:
        return 1, 1
    before = source[:index]
    return before.count("\n") + 1, index - (before.rfind("\n") + 1) + 1


def error_index(env: Environment, source: str, error: LiquidError) -> int:
    """Where a syntax error is. Errors found at the end of an expression carry no position, so each
    output and tag is then parsed on its own, and an unclosed block is reported at its opening tag."""
    if error.token is not None and error.token.start_index >= 0 and error.token.source == source:
        return error.token.start_index
    tokens = list(env.tokenizer()(source))
    unclosed: list[tuple[Token, str]] = []
    for position, token in enumerate(tokens):
        following = tokens[position + 1] if position + 1 < len(tokens) else None
        expression = following.value if following is not None and following.kind == TOKEN_EXPRESSION else ""
        if token.kind == TOKEN_OUTPUT:
            probe = "{{ " + expression + " }}"
        elif token.kind == TOKEN_TAG and unclosed and token.value == unclosed[-1][1]:
            unclosed.pop()
            continue
        elif token.kind == TOKEN_TAG and token.value in env.tags and token.value != "liquid":
            tag = env.tags[token.value]
            end = str(getattr(tag, "end", "")) if tag.block else ""
            probe = "{% " + token.value + " " + expression + " %}" + ("{% " + end + " %}" if end else "")
            if end:
                unclosed.append((token, end))
        else:
            continue
        try:
            env.from_string(probe)
        except LiquidError:
            return token.start_index
    return unclosed[-1][0].start_index if unclosed else -1


def describe(error: LiquidError, env: Environment | None = None, source: str | None = None) -> str:
    """A one-line message with the line and column of a Liquid error."""
    message = str(error.message)
    if env is not None and source is not None:
        line, column = line_column(source, error_index(env, source, error))
        return f"{message} (line {line}, column {column})"
    where = error.context()
    return f"{message} (line {where[0]}, column {where[1] + 1})" if where else message


@lru_cache(maxsize=1024)
def _parse_path(text: str) -> tuple[str | int, ...]:
    return tuple(parse_path(text))


def parse_path(text: str) -> list[str | int]:
    """``trigger.cart.items[0]["sku"]`` → ``["trigger", "cart", "items", 0, "sku"]``."""
    parts: list[str | int] = []
    position = 0
    text = text.strip()
    while position < len(text):
        match = _PATH_PART.match(text, position)
        if match is None or (position == 0 and text.startswith(".")):
            raise ValueError(f"{text!r} is not a variable path")
        name, index, _quote, key = match.groups()
        parts.append(name if name is not None else int(index) if index is not None else key)
        position = match.end()
    if not parts or not isinstance(parts[0], str):
        raise ValueError(f"{text!r} is not a variable path")
    return parts


def lookup(root: Mapping[str, Any], path: Sequence[str | int]) -> Any:
    """The value at ``path`` (Liquid semantics for ``size``/``first``/``last``); None when missing."""
    value: Any = root
    for part in path:
        try:
            if isinstance(value, Mapping):
                value = value[part]
            elif isinstance(value, list | tuple):
                if part == "size":
                    value = len(value)
                elif part in ("first", "last"):
                    value = value[0 if part == "first" else -1]
                elif isinstance(part, int) or isinstance(value, RelatedList):
                    value = value[part]  # type: ignore[index]
                else:
                    return None
            else:
                return None
        except (KeyError, IndexError, TypeError):
            return None
    return value


def is_empty(value: Any) -> bool:
    if value is None or value is False:
        return True
    if isinstance(value, LazyEntity):
        return False
    if isinstance(value, str | list | tuple | Mapping):
        return len(value) == 0 or (isinstance(value, str) and not value.strip())
    return False


@dataclass(frozen=True)
class Trace:
    """A render with what it used: the Liquid variables (entities with the relationships the render
    loaded) and the number of graph reads."""

    outcome: Outcome
    variables: Mapping[str, Any]
    graph_reads: int


class TemplateEngine:
    """Parses (with a cache), prepares, renders and lints templates under one set of sandbox limits.

    An email template is *prepared* once (its CSS inlined into the template's own tags, see
    ``html.inline_css_source``) and the prepared form is kept, so a message's render does not inline.
    """

    def __init__(
        self,
        *,
        limits: Limits | None = None,
        snippets: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.perf_counter,
        cache_size: int = 2048,
    ) -> None:
        self.limits = limits or Limits()
        self.env = make_environment(self.limits, snippets)
        self.clock = clock
        self._cache: dict[str, BoundTemplate | LiquidError] = {}
        self._cache_size = cache_size
        self._prepared: dict[EmailTemplate, EmailTemplate] = {}

    # -- preparing -------------------------------------------------------------------------------

    def prepare(self, template: Template) -> Template:
        """The template ready to render many times: an email's CSS inlined into its source when that
        gives the same result as inlining each message (else inlining stays per message)."""
        if not isinstance(template, EmailTemplate) or not template.inline_css:
            return template
        found = self._prepared.get(template)
        if found is None:
            inlined = inline_css_source(template.html)
            found = template if inlined is None else replace(template, html=inlined, inline_css=False)
            if len(self._prepared) >= self._cache_size:
                self._prepared.pop(next(iter(self._prepared)))
            self._prepared[template] = found
        return found

    # -- parsing ---------------------------------------------------------------------------------

    def parse(self, source: str) -> BoundTemplate:
        """The parsed template; raises ``LiquidError`` for a syntax error."""
        cached = self._cache.get(source)
        if cached is None:
            try:
                cached = self.env.from_string(source)
            except LiquidError as exc:
                cached = exc
            if len(self._cache) >= self._cache_size:
                self._cache.pop(next(iter(self._cache)))
            self._cache[source] = cached
        if isinstance(cached, LiquidError):
            raise cached
        return cached

    # -- rendering -------------------------------------------------------------------------------

    def render(self, template: Template, context: MessageContext) -> Outcome:
        """Render every field of ``template``; see the module docstring for the outcomes."""
        return self.trace(template, context).outcome

    def trace(self, template: Template, context: MessageContext) -> Trace:
        """``render`` that also returns the variables it used (previews show them)."""
        if isinstance(template, EmailTemplate) and template.inline_css:
            template = self.prepare(template)
        budget = Budget(self.limits.render_seconds, self.clock)
        graph = LazyGraph(
            context.graph, context.contract, entity_limit=self.limits.related_entities, check=budget.check
        )
        state = RenderState(budget, context.timezone, context.now, context.links)
        variables: dict[str, Any] = {}
        try:
            variables = build_variables(context, graph)
            self._check_required(template.required, variables)
            run = _Run(self, variables, state)
            content = _render_channel(template, run)
        except _Stop as stop:
            return Trace(stop.outcome, variables, graph.reads)
        except (RenderLimitError, GraphLimitError) as exc:
            return Trace(Aborted("render_limit", str(exc)), variables, graph.reads)
        return Trace(Rendered(content, graph.reads), variables, graph.reads)

    def render_text(self, source: str, context: MessageContext) -> str | Aborted:
        """One Liquid string rendered with ``context`` (previews, ad-hoc fields)."""
        outcome = self.render(SmsTemplate(body=source), context)
        if isinstance(outcome, Aborted):
            return outcome
        assert isinstance(outcome.content, RenderedSms)
        return outcome.content.body

    def _check_required(self, required: Sequence[str], variables: Mapping[str, Any]) -> None:
        for path in required:
            try:
                parts = _parse_path(path)
            except ValueError as exc:
                raise _Stop(Aborted("syntax_error", str(exc), "required")) from None
            if is_empty(lookup(variables, parts)):
                raise _Stop(Aborted("missing_data", path, "required"))

    def render_field(self, name: str, source: str, variables: Mapping[str, Any], state: RenderState) -> str:
        """One field; raises ``_Stop`` with the abort outcome."""
        if "{" not in source:
            return source
        try:
            bound = self.parse(source)
        except LiquidError as exc:
            raise _Stop(Aborted("syntax_error", describe(exc, self.env, source), name)) from None
        ctx = SandboxContext(bound, globals=bound.make_globals(variables))
        ctx.state = state
        buffer = LimitedOutput(self.limits.output_chars)
        try:
            bound.render_with_context(ctx, buffer)
        except AbortSignal as signal:
            raise _Stop(Aborted(signal.reason, "", name)) from None
        except MissingLink as missing:
            raise _Stop(Aborted("missing_data", f"links.{missing.name}", name)) from None
        except (RenderLimitError, GraphLimitError) as exc:
            raise _Stop(Aborted("render_limit", str(exc), name)) from None
        except ResourceLimitError as exc:
            raise _Stop(Aborted("render_limit", describe(exc), name)) from None
        except LiquidSyntaxError as exc:
            raise _Stop(Aborted("syntax_error", describe(exc), name)) from None
        except TemplateNotFoundError as exc:
            raise _Stop(Aborted("render_error", f"snippet {exc.args[0]!r} not found", name)) from None
        except LiquidError as exc:
            raise _Stop(Aborted("render_error", describe(exc), name)) from None
        return buffer.getvalue()


class _Run:
    __slots__ = ("engine", "state", "variables")

    def __init__(self, engine: TemplateEngine, variables: Mapping[str, Any], state: RenderState) -> None:
        self.engine = engine
        self.variables = variables
        self.state = state

    def __call__(self, name: str, source: str) -> str:
        return self.engine.render_field(name, source, self.variables, self.state)


def _render_channel(template: Template, run: _Run) -> Any:
    if isinstance(template, EmailTemplate):
        return _render_email(template, run)
    if isinstance(template, SmsTemplate):
        body = run("body", template.body).strip()
        encoding, segments, length = segment_count(body)
        return RenderedSms(body, encoding, segments, length)
    if isinstance(template, PushTemplate):
        return RenderedPush(
            title=run("title", template.title).strip(),
            body=run("body", template.body).strip(),
            image=run("image", template.image).strip(),
            link=run("link", template.link).strip(),
            data={key: run(f"data.{key}", value) for key, value in template.data.items()},
        )
    return _render_webhook(template, run)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _render_email(template: EmailTemplate, run: _Run) -> RenderedEmail:
    subject = _one_line(run("subject", template.subject))
    preheader = _one_line(run("preheader", template.preheader))
    html = run("html", template.html)
    text = run("text", template.text).strip() if template.text is not None else html_to_text(html)
    if template.inline_css:
        html = inline_css(html)
    return RenderedEmail(
        subject=subject,
        preheader=preheader,
        sender=_one_line(run("sender", template.sender)),
        reply_to=_one_line(run("reply_to", template.reply_to)),
        html=insert_preheader(html, preheader),
        text=text,
    )


def _render_webhook(template: WebhookTemplate, run: _Run) -> RenderedWebhook:
    method = _one_line(run("method", template.method)).upper()
    if method not in _METHODS:
        raise _Stop(Aborted("render_error", f"unsupported HTTP method {method!r}", "method"))
    url = run("url", template.url).strip()
    if not url.lower().startswith(("https://", "http://")):
        raise _Stop(Aborted("render_error", f"webhook URL must be http(s), got {url[:200]!r}", "url"))
    headers = {key: _one_line(run(f"headers.{key}", value)) for key, value in template.headers.items()}
    body: Any
    if isinstance(template.body, str):
        text = run("body", template.body)
        try:
            body = json.loads(text) if text.strip() else None
        except ValueError as exc:
            raise _Stop(Aborted("render_error", f"webhook body is not JSON: {exc}", "body")) from None
    else:
        body = _render_json(template.body, "body", run)
    return RenderedWebhook(method, url, headers, body)


def _render_json(value: Any, path: str, run: _Run) -> Any:
    if isinstance(value, str):
        return run(path, value)
    if isinstance(value, Mapping):
        return {key: _render_json(item, f"{path}.{key}", run) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_render_json(item, f"{path}[{i}]", run) for i, item in enumerate(value)]
    return value


DEFAULT_ENGINE = TemplateEngine()


def render(template: Template, context: MessageContext) -> Outcome:
    """Render with the default engine (default limits, no snippets)."""
    return DEFAULT_ENGINE.render(template, context)
