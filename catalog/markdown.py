"""Module descriptions: Markdown rendered to HTML, then sanitised (nh3) — no script, no handlers, http(s) links only."""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt

MAX_DESCRIPTION = 20_000

_md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table").enable("strikethrough")
_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "del", "s", "code", "pre", "blockquote",
    "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip


def render_markdown(text: str) -> str:
    """Safe HTML for ``text`` (raw HTML in the Markdown is shown as text; the result is sanitised anyway)."""
    html = _md.render(text or "")
    return nh3.clean(
        html,
        tags=_TAGS,
        attributes={"a": {"href", "title"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="nofollow noopener noreferrer",
    )
