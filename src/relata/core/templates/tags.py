"""Relata's Liquid tags: ``{% unsubscribe_url %}``, ``{% preferences_url %}``,
``{% view_in_browser_url %}`` and ``{% abort "reason" %}``.

The URL tags print the URLs the caller put in ``MessageContext.links`` (delivery signs them per
message). A template that uses one without the caller providing it is aborted with
``missing_data``, so an email never goes out with an empty unsubscribe link.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TextIO

from liquid import Node, RenderContext, Tag, TokenStream
from liquid.builtin.expressions import FilteredExpression
from liquid.exceptions import LiquidSyntaxError
from liquid.expression import Expression
from liquid.token import TOKEN_EXPRESSION, TOKEN_TAG, Token

from relata.core.templates.context import LINK_NAMES
from relata.core.templates.sandbox import AbortSignal, state_of


class MissingLink(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class LinkNode(Node):
    __slots__ = ("link",)

    def __init__(self, token: Token, link: str) -> None:
        super().__init__(token)
        self.link = link
        self.blank = False

    def __str__(self) -> str:
        return f"{{% {self.link} %}}"

    def render_to_output(self, context: RenderContext, buffer: TextIO) -> int:
        state = state_of(context)
        url = state.links.get(self.link) if state is not None else None
        if not url:
            raise MissingLink(self.link)
        if state is not None:
            state.used_links.add(self.link)
        return buffer.write(url)


class _LinkTag(Tag):
    block = False

    def parse(self, stream: TokenStream) -> Node:
        token = stream.current
        stream.expect(TOKEN_TAG, value=self.name)
        if stream.peek.kind == TOKEN_EXPRESSION:
            raise LiquidSyntaxError(f"{self.name} takes no arguments", token=stream.peek)
        return LinkNode(token, self.name)


def _link_tag(link: str) -> type[Tag]:
    return type(f"{link.title().replace('_', '')}Tag", (_LinkTag,), {"name": link})


class AbortNode(Node):
    __slots__ = ("reason",)

    def __init__(self, token: Token, reason: Expression | None) -> None:
        super().__init__(token)
        self.reason = reason

    def __str__(self) -> str:
        return f"{{% abort {self.reason or ''} %}}"

    def render_to_output(self, context: RenderContext, buffer: TextIO) -> int:
        reason = self.reason.evaluate(context) if self.reason is not None else None
        text = str(reason).strip() if reason is not None else ""
        raise AbortSignal(text or "aborted")

    def expressions(self) -> Iterable[Expression]:
        if self.reason is not None:
            yield self.reason


class AbortTag(Tag):
    """``{% abort "out_of_stock" %}``: cancel this send with that reason."""

    name = "abort"
    block = False

    def parse(self, stream: TokenStream) -> Node:
        token = stream.current
        stream.expect(TOKEN_TAG, value=self.name)
        reason: Expression | None = None
        if stream.peek.kind == TOKEN_EXPRESSION:
            next(stream)
            reason = FilteredExpression.parse(self.env, stream.into_inner(tag=token, eat=False))
        return AbortNode(token, reason)


TAGS: tuple[type[Tag], ...] = (AbortTag, *(_link_tag(name) for name in LINK_NAMES))
