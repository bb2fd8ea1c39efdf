"""Bot text → safe HTML for the web chat page.

The page inserts this HTML with ``innerHTML``, so this is the trust boundary: a module can put
anything in a message. Only Telegram's own formatting survives (``b i u s code pre a blockquote
tg-spoiler`` and their aliases); any other tag, comment or declaration is shown as literal
text, exactly what a person would want to see when a module sends broken markup. Tags are
re-emitted from scratch (never copied), attributes dropped except a checked ``href``, and
every tag left open is closed, so the output can't break the page's own markup.
"""

from __future__ import annotations

from html import escape
from html.parser import HTMLParser

# Telegram's HTML parse mode: accepted tag → the tag the page renders.
_ALIASES = {
    "b": "b",
    "strong": "b",
    "i": "i",
    "em": "i",
    "u": "u",
    "ins": "u",
    "s": "s",
    "strike": "s",
    "del": "s",
    "code": "code",
    "pre": "pre",
    "a": "a",
    "blockquote": "blockquote",
    "tg-spoiler": "tg-spoiler",
}
_SAFE_SCHEMES = ("http://", "https://")


def _open_tag(tag: str, href: str | None) -> str:
    if tag == "tg-spoiler":
        return '<span class="tg-spoiler">'
    if tag == "a":
        if href is None:
            return '<a class="nolink">'  # tg:// or javascript: links keep their text, lose the link
        return f'<a href="{escape(href, quote=True)}" target="_blank" rel="noopener noreferrer">'
    return f"<{tag}>"


def _close_tag(tag: str) -> str:
    return "</span>" if tag == "tg-spoiler" else f"</{tag}>"


class _TelegramHTML(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        target = _ALIASES.get(tag)
        if tag == "span" and (values.get("class") or "").strip() == "tg-spoiler":
            target = "tg-spoiler"
        if target is None:
            self.handle_data(self.get_starttag_text() or f"<{tag}>")
            return
        href = None
        if target == "a":
            raw = (values.get("href") or "").strip()
            href = raw if raw.lower().startswith(_SAFE_SCHEMES) else None
        self.out.append(_open_tag(target, href))
        self.open.append(target)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # A self-closing formatting tag formats nothing; anything else is literal text.
        if tag not in _ALIASES:
            self.handle_data(self.get_starttag_text() or f"<{tag}/>")

    def handle_endtag(self, tag: str) -> None:
        target = "tg-spoiler" if tag == "span" and "tg-spoiler" in self.open else _ALIASES.get(tag)
        if target is None or target not in self.open:
            if target is None:
                self.handle_data(f"</{tag}>")
            return  # a stray closing tag of a known kind: Telegram would refuse it; drop it
        while self.open:
            current = self.open.pop()
            self.out.append(_close_tag(current))
            if current == target:
                break

    def handle_data(self, data: str) -> None:
        self.out.append(escape(data, quote=False))

    def handle_comment(self, data: str) -> None:
        self.handle_data(f"<!--{data}-->")

    def handle_decl(self, decl: str) -> None:
        self.handle_data(f"<!{decl}>")

    def handle_pi(self, data: str) -> None:
        self.handle_data(f"<?{data}>")

    def unknown_decl(self, data: str) -> None:
        self.handle_data(f"<![{data}]>")

    def result(self) -> str:
        self.close()
        return "".join(self.out) + "".join(_close_tag(tag) for tag in reversed(self.open))


def telegram_html(text: str | None) -> str:
    """Sanitize ``text`` sent with ``parse_mode=HTML`` into HTML the page may insert as is."""
    if not text:
        return ""
    parser = _TelegramHTML()
    parser.feed(text)
    return parser.result()


def message_html(text: str | None, parse_mode: str | None) -> str:
    """HTML for a message's text or caption: formatted in HTML parse mode, otherwise plain escaped text."""
    if (parse_mode or "").lower() == "html":
        return telegram_html(text)
    return escape(text or "", quote=False)
