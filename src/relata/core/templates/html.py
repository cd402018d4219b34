"""Email HTML after Liquid: CSS inlined, preheader inserted, a plain-text part derived.

CSS inlining uses ``css-inline`` with remote stylesheets off: ``<link>`` tags are dropped, never
fetched, so a template cannot make the renderer reach the network or the disk.
"""

from __future__ import annotations

import re
from html import escape, unescape

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


_TOKEN = re.compile(
    r"<!--.*?-->|<!\[CDATA\[.*?\]\]>|<![^>]*>|<\?[^>]*>"  # comments, doctype, processing instructions
    r"|<(/?)([A-Za-z][A-Za-z0-9:-]*)((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>"  # tags
    r"|([^<]+|<)",  # text
    re.DOTALL,
)
_ATTRIBUTE = re.compile(r"""([A-Za-z_:][-A-Za-z0-9_:.]*)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")
_SPACE = re.compile(r"\s+")


def _attribute(attributes: str, name: str) -> str | None:
    for match in _ATTRIBUTE.finditer(attributes):
        if match.group(1).lower() == name:
            value = match.group(2) if match.group(2) is not None else match.group(3) or match.group(4) or ""
            return unescape(value)
    return None


def html_to_text(html: str) -> str:
    """A readable plain-text part: block structure kept, links shown after their text.

    A single regular-expression scan (several times faster than ``html.parser``); the content of
    ``style``/``script``/``head`` and of elements hidden with ``display:none`` is left out.
    """
    out: list[str] = []
    open_tags: list[tuple[str, bool]] = []
    links: list[str | None] = []
    skip = 0
    for match in _TOKEN.finditer(html):
        closing, tag, attributes, text = match.groups()
        if text is not None:
            if not skip:
                out.append(_SPACE.sub(" ", unescape(text)))
            continue
        if tag is None:
            continue
        tag = tag.lower()
        if closing:
            if not any(name == tag for name, _ in open_tags):
                continue
            while open_tags:
                name, hides = open_tags.pop()
                if hides:
                    skip -= 1
                elif not skip:
                    if name in _BLOCK:
                        out.append("\n\n")
                    elif name == "a" and links:
                        href = links.pop()
                        if href and not href.startswith(("#", "mailto:")):
                            out.append(f" ({href})")
                if name == tag:
                    break
            continue
        if tag in _VOID or attributes.rstrip().endswith("/"):
            if skip:
                continue
            if tag == "br":
                out.append("\n")
            elif tag == "hr":
                out.append("\n\n")
            elif tag == "img":
                alt = (_attribute(attributes, "alt") or "").strip()
                if alt:
                    out.append(alt)
            continue
        style = _attribute(attributes, "style") if "style" in attributes.lower() else None
        hides = tag in _SKIP or bool(style and _HIDDEN.search(style))
        open_tags.append((tag, hides))
        if hides:
            skip += 1
        if skip:
            continue
        if tag in _BLOCK:
            out.append("\n\n")
        elif tag == "li":
            out.append("\n- ")
        elif tag in ("td", "th"):
            out.append(" ")
        elif tag == "a":
            links.append(_attribute(attributes, "href"))
    lines = [line.strip() for line in "".join(out).split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
