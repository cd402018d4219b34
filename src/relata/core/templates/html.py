"""Email HTML after Liquid: CSS inlined, preheader inserted, a plain-text part derived.

CSS inlining uses ``css-inline`` with remote stylesheets off: ``<link>`` tags are dropped, never
fetched, so a template cannot make the renderer reach the network or the disk.
"""

from __future__ import annotations

import re
from html import escape
from html.parser import HTMLParser

import css_inline

_INLINER = css_inline.CSSInliner(load_remote_stylesheets=False, keep_link_tags=False)
_BODY = re.compile(r"<body\b[^>]*>", re.IGNORECASE)
_SKIP = frozenset({"style", "script", "head", "title", "template", "noscript"})
_BLOCK = frozenset(
    {
        "p",
        "div",
        "table",
        "tr",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "ul",
        "ol",
        "section",
        "article",
        "header",
        "footer",
        "blockquote",
        "center",
        "hr",
    }
)
_HIDDEN = re.compile(r"display\s*:\s*none", re.IGNORECASE)
_VOID = frozenset({"br", "hr", "img", "meta", "link", "input", "col", "area", "base", "wbr", "source"})


def inline_css(html: str) -> str:
    """Move ``<style>`` rules into ``style`` attributes (email clients ignore style sheets)."""
    if "<style" not in html.lower():
        return html
    result: str = _INLINER.inline(html)
    return result


def insert_preheader(html: str, preheader: str) -> str:
    """The preheader as hidden text at the start of the body (the inbox preview line)."""
    if not preheader.strip():
        return html
    block = (
        '<div style="display:none;max-height:0;overflow:hidden;mso-hide:all" aria-hidden="true">'
        f"{escape(preheader)}</div>"
    )
    match = _BODY.search(html)
    if match is None:
        return block + html
    return html[: match.end()] + block + html[match.end() :]


class _TextWriter(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.open: list[tuple[str, bool]] = []
        self.skip = 0
        self.links: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag in _VOID:
            if self.skip:
                return
            if tag == "br":
                self.out.append("\n")
            elif tag == "hr":
                self.out.append("\n\n")
            elif tag == "img" and (attributes.get("alt") or "").strip():
                self.out.append((attributes.get("alt") or "").strip())
            return
        hides = tag in _SKIP or bool(_HIDDEN.search(attributes.get("style") or ""))
        self.open.append((tag, hides))
        if hides:
            self.skip += 1
        if self.skip:
            return
        if tag in _BLOCK:
            self.out.append("\n\n")
        elif tag == "li":
            self.out.append("\n- ")
        elif tag in ("td", "th"):
            self.out.append(" ")
        elif tag == "a":
            self.links.append(attributes.get("href"))

    def handle_endtag(self, tag: str) -> None:
        if not any(name == tag for name, _ in self.open):
            return
        while self.open:
            name, hides = self.open.pop()
            if hides:
                self.skip -= 1
            elif not self.skip:
                self._close(name)
            if name == tag:
                break

    def _close(self, tag: str) -> None:
        if tag in _BLOCK:
            self.out.append("\n\n")
        elif tag == "a" and self.links:
            href = self.links.pop()
            if href and not href.startswith(("#", "mailto:")):
                self.out.append(f" ({href})")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.out.append(re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """A readable plain-text part: block structure kept, links shown after their text."""
    writer = _TextWriter()
    writer.feed(html)
    writer.close()
    lines = [line.strip() for line in "".join(writer.out).split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
