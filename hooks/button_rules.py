"""Bot API rules for an inline button that came from a module (untrusted input).

``check_button`` returns ``None`` for a button Telegram would accept in a core menu, or a
sentence saying what is wrong with it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from aiogram.types import InlineKeyboardButton

MAX_TEXT = 128  # Telegram shows ~64 chars; anything longer is abuse, not a label
MAX_CALLBACK_DATA_BYTES = 64  # Bot API: callback_data is 1-64 bytes
MAX_URL = 2048
URL_SCHEMES = frozenset({"http", "https", "tg"})

# The fields of which a button must set exactly one.
ACTION_FIELDS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
# Valid only as the first button of a game or invoice message, never in a core menu.
_FORBIDDEN_ACTIONS = frozenset({"callback_game", "pay"})


def check_button(button: Any) -> str | None:
    if not isinstance(button, InlineKeyboardButton):
        return f"a button must be an InlineKeyboardButton, got {type(button).__name__}"
    text = button.text
    if not isinstance(text, str) or not text.strip():
        return "button text is empty"
    if len(text) > MAX_TEXT:
        return f"button text is {len(text)} characters long (at most {MAX_TEXT})"
    actions = [field for field in ACTION_FIELDS if getattr(button, field, None) is not None]
    if len(actions) != 1:
        found = ", ".join(actions) or "none"
        return f"a button needs exactly one action field, {text!r} has {found}"
    action = actions[0]
    if action in _FORBIDDEN_ACTIONS:
        return f"{action} buttons cannot be added to a menu"
    # ``action`` is the one field that is set; the ``is not None`` tests only tell the type checker.
    if action == "callback_data" and button.callback_data is not None:
        size = len(button.callback_data.encode())
        if not 1 <= size <= MAX_CALLBACK_DATA_BYTES:
            return f"callback_data is {size} bytes (Bot API allows 1-{MAX_CALLBACK_DATA_BYTES})"
    if action == "url" and button.url is not None:
        return check_url(button.url, {"http", "https", "tg"})
    if action == "web_app" and button.web_app is not None:
        return check_url(button.web_app.url, {"https"})
    if action == "login_url" and button.login_url is not None:
        return check_url(button.login_url.url, {"http", "https"})
    return None


def check_url(url: Any, schemes: set[str] | frozenset[str] = URL_SCHEMES) -> str | None:
    if not isinstance(url, str) or not url:
        return "URL is empty"
    if len(url) > MAX_URL:
        return f"URL is {len(url)} characters long (at most {MAX_URL})"
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        return f"URL {url[:60]!r} contains whitespace or control characters"
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        return f"URL {url[:60]!r} does not parse: {exc}"
    if parts.scheme.lower() not in schemes:
        return f"URL scheme {parts.scheme!r} is not allowed (use {', '.join(sorted(schemes))})"
    if parts.scheme.lower() in ("http", "https") and not parts.hostname:
        return f"URL {url[:60]!r} has no host"
    return None
