"""Email HTML: CSS inlined (once, into the template, when that is safe), preheader inserted, a plain-text
part derived.

CSS inlining uses ``css-inline`` with remote stylesheets off: ``<link>`` tags are dropped, never
fetched, so a template cannot make the renderer reach the network or the disk.

``inline_css_source`` inlines the styles of a *template* before any message is rendered: the Liquid
markup is set aside, the HTML is inlined, and only the resulting ``style`` attributes are written into
the template's own tags (so the author's markup, loops and conditions are kept exactly). It declines
(returns None, and rendering then inlines each message) when the result could differ from inlining the
rendered message: styles that depend on the rendered structure (``:first-child``, ``+``, ``~``,
attribute selectors), Liquid inside ``<style>``, in a ``class``/``id``/``style`` attribute or between
attributes, snippets (``include``/``render``), and ``<link>`` tags.
"""

from __future__ import annotations

import re
from functools import lru_cache
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


_LIQUID = re.compile(
    r"{%-?\s*raw\s*-?%}.*?{%-?\s*endraw\s*-?%}"
    r"|{%-?\s*comment\s*-?%}.*?{%-?\s*endcomment\s*-?%}"
    r"|{{.*?}}|{%.*?%}",
    re.DOTALL,
)
_MARK = re.compile("\ue000(\\d+)\ue001")
_STRUCTURAL = re.compile(r":(?:first|last|nth|only)-|:empty|:not\(|:has\(|[+~\[]", re.IGNORECASE)
_STYLE_ELEMENT = re.compile(r"<style\b[^>]*>(.*?)</style\s*>", re.IGNORECASE | re.DOTALL)
_CSS_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
_UNSAFE_SOURCE = re.compile(r"<link\b|{%-?\s*(?:include|render)\b", re.IGNORECASE)
_IMPLIED = frozenset({"html", "head", "body", "tbody", "colgroup"})
_STYLE_ATTRIBUTE = re.compile(r"""\sstyle\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'>]+)""", re.IGNORECASE)


def _start_tags(html: str) -> list[re.Match[str]]:
    """Start tags outside comments, ``<style>``, ``<script>`` and doctype declarations."""
    tags: list[re.Match[str]] = []
    raw_until: str | None = None
    for match in _TOKEN.finditer(html):
        closing, tag = match.group(1), match.group(2)
        if tag is None:
            continue
        name = tag.lower()
        if raw_until is not None:
            if closing and name == raw_until:
                raw_until = None
            continue
        if closing:
            continue
        if name in ("style", "script"):
            raw_until = name
            if name == "style":
                continue
        tags.append(match)
    return tags


def _liquid_placement_is_safe(tag: re.Match[str]) -> bool:
    """Liquid in a start tag only inside a quoted value of an attribute other than class/id/style."""
    attributes = tag.group(3)
    if "\ue000" in tag.group(2):
        return False
    outside = attributes
    for attribute in _ATTRIBUTE.finditer(attributes):
        value = attribute.group(2) if attribute.group(2) is not None else attribute.group(3)
        if value is None:
            continue
        if "\ue000" in value and attribute.group(1).lower() in ("class", "id", "style"):
            return False
        outside = outside.replace(attribute.group(0), "", 1)
    return "\ue000" not in outside


def inline_css_source(source: str) -> str | None:
    """The template ``source`` with its ``<style>`` rules inlined into its own tags; None when unsafe.

    Without a ``<style>`` element the source is returned unchanged.
    """
    if "<style" not in source.lower():
        return source
    if _UNSAFE_SOURCE.search(source):
        return None
    spans: list[str] = []

    def park(match: re.Match[str]) -> str:
        spans.append(match.group(0))
        return f"\ue000{len(spans) - 1}\ue001"

    neutral = _LIQUID.sub(park, source)
    for style in _STYLE_ELEMENT.finditer(neutral):
        css = _CSS_COMMENT.sub("", style.group(1))
        if "\ue000" in css or _STRUCTURAL.search(css):
            return None
    tags = _start_tags(neutral)
    if not all(_liquid_placement_is_safe(tag) for tag in tags if "\ue000" in tag.group(0)):
        return None
    try:
        inlined = _INLINER.inline(neutral)
    except ValueError:
        return None
    if "<style" in inlined.lower():
        return None
    styled = _start_tags(inlined)
    out: list[str] = []
    position = 0
    cursor = 0
    for tag in tags:
        name = tag.group(2).lower()
        while cursor < len(styled) and styled[cursor].group(2).lower() != name:
            if styled[cursor].group(2).lower() not in _IMPLIED:
                return None
            cursor += 1
        if cursor == len(styled):
            return None
        declarations = _attribute(styled[cursor].group(3), "style")
        cursor += 1
        if declarations is None or _attribute(tag.group(3), "style") == declarations:
            continue
        attributes = _STYLE_ATTRIBUTE.sub("", tag.group(3))
        closing = "/" if attributes.rstrip().endswith("/") else ""
        attributes = attributes.rstrip().removesuffix("/").rstrip()
        out.append(neutral[position : tag.start()])
        value = escape(declarations, quote=False).replace('"', "&quot;")
        out.append(f'<{tag.group(2)}{attributes} style="{value}"{" /" if closing else ""}>')
        position = tag.end()
    out.append(neutral[position:])
    result = _STYLE_ELEMENT.sub("", "".join(out))
    restored = _MARK.sub(lambda match: spans[int(match.group(1))], result)
    if "\ue000" in restored or len(_LIQUID.findall(restored)) != len(spans):
        return None
    return restored


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


@lru_cache(maxsize=4096)
def _attribute(attributes: str, name: str) -> str | None:
    """The unescaped value of attribute ``name`` in a tag's attribute text (cached: a template's tags
    repeat from message to message)."""
    for match in _ATTRIBUTE.finditer(attributes):
        if match.group(1).lower() == name:
            value = match.group(2) if match.group(2) is not None else match.group(3) or match.group(4) or ""
            return unescape(value)
    return None


_DROPPED = re.compile(
    r"<!--.*?-->|<!\[CDATA\[.*?\]\]>|<![^>]*>|<\?[^>]*>"
    r"|<(style|script|head|title|template|noscript)\b[^>]*>.*?</\1\s*>",
    re.IGNORECASE | re.DOTALL,
)
# Possessive: a tag either matches on its first, greedy path or not at all, so giving nothing back
# finds the same tags, sooner, and an unclosed ``<b`` followed by many characters (data rendered into
# the HTML) takes linear time instead of exponential backtracking.
_TAG = re.compile(r"""<(/?)([A-Za-z][A-Za-z0-9:-]*+)((?:[^>"']++|"[^"]*+"|'[^']*+')*+)>""")
_BLANK_LINES = re.compile(r"\n{3,}")
_OPEN_TEXT = {**dict.fromkeys(_BLOCK, "\n\n"), "li": "\n- ", "td": " ", "th": " ", "br": "\n"}
_CLOSE_TEXT = dict.fromkeys(_BLOCK, "\n\n")


def _replace_tags(text: str) -> str:
    """Each tag replaced by its text form (block breaks, list dashes, link targets, image alt text).

    One ``split`` on the tag pattern and a loop over its pieces: the same left-to-right matches as a
    ``sub`` with a replacement function, without a Python call per tag.
    """
    parts = _TAG.split(text)
    if len(parts) == 1:
        return text
    out = [parts[0]]
    append = out.append
    links: list[str | None] = []
    close_text = _CLOSE_TEXT
    open_text = _OPEN_TEXT
    for closing, tag, attributes, after in zip(
        parts[1::4], parts[2::4], parts[3::4], parts[4::4], strict=True
    ):
        name = tag.lower()
        if closing:
            if name == "a" and links:
                href = links.pop()
                if href and not href.startswith(("#", "mailto:")):
                    append(f" ({escape(href, quote=False)})")
            else:
                append(close_text.get(name, ""))
        elif name == "a":
            links.append(_attribute(attributes, "href"))
        elif name == "img":
            append(escape((_attribute(attributes, "alt") or "").strip(), quote=False))
        else:
            append(open_text.get(name, ""))
        append(after)
    return "".join(out)


def _may_hide(lowered: str) -> bool:
    """Whether ``_HIDDEN`` can match: its case-insensitive search is slow, a substring test is not
    (U+0131 dotless i and U+017F long s also match ``i`` and ``s`` case-insensitively)."""
    return "display" in lowered or "\u0131" in lowered or "\u017f" in lowered


def html_to_text(html: str) -> str:
    """A readable plain-text part: block structure kept, links shown after their text.

    The content of ``style``/``script``/``head`` and of elements hidden with ``display:none`` is
    left out. Without hidden elements this is three regular-expression passes (tens of microseconds
    for a cart email); with them, one scan that tracks open elements.
    """
    lowered = html.lower()
    if "none" in lowered and _may_hide(lowered) and _HIDDEN.search(lowered) is not None:
        return _scan_text(html)
    text = (
        _DROPPED.sub("", html)
        if "<!" in html
        or "<?" in html
        or "<head" in lowered
        or (
            "<style" in lowered
            or "<script" in lowered
            or "<title" in lowered
            or "<template" in lowered
            or "<noscript" in lowered
        )
        else html
    )
    text = unescape(_replace_tags(" ".join(text.split())))
    lines = [line.strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _scan_text(html: str) -> str:
    """``html_to_text`` by one scan that tracks open elements (needed for hidden elements)."""
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
