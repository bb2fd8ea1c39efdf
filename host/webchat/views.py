"""What the page receives: chat messages and module statuses as plain JSON-ready dicts.

The page re-renders a message whenever its dict changes, so everything that shows (text,
keyboard, picture, the "edited" mark) is in it, and nothing that changes without showing is.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from local_bot_api.state import StoredMessage, World

from .render import message_html

MAX_MESSAGES = 200  # a long demo session must not make every update megabytes long
ERROR_PREVIEW = 240  # characters of a module's last error shown in the panel
ERROR_TITLE = 4000  # … and in its tooltip


def file_url(file_id: str) -> str:
    return f"/api/files/{quote(file_id, safe='')}"


def _button(button: dict[str, Any]) -> dict[str, Any]:
    text = str(button.get("text", ""))
    if "callback_data" in button:
        return {"text": text, "callback": button["callback_data"]}
    for key in ("url", "web_app", "login_url"):
        value = button.get(key)
        url = value.get("url") if isinstance(value, dict) else value
        if isinstance(url, str) and url.lower().startswith(("http://", "https://", "tg://")):
            return {"text": text, "url": url}
    return {"text": text}  # switch_inline_query, copy_text…: shown, but nothing to press here


def message_view(message: StoredMessage) -> dict[str, Any]:
    rows = (message.reply_markup or {}).get("inline_keyboard") or []
    view: dict[str, Any] = {
        "id": message.message_id,
        "from_bot": message.sender.is_bot,
        "html": message_html(message.text if message.text is not None else message.caption, message.parse_mode),
        "edited": message.edited,
        "keyboard": [[_button(b) for b in row if isinstance(b, dict)] for row in rows if isinstance(row, list)],
    }
    if message.photo is not None:
        # A photo sent by URL has no bytes here (no network): the page shows a placeholder.
        view["photo"] = file_url(message.photo.file_id) if message.photo.data else None
        view["photo_source"] = message.photo.url
    if message.document is not None:
        view["document"] = {"name": message.document.file_name or "файл", "href": file_url(message.document.file_id)}
    return view


def chat_view(world: World, user_id: int) -> list[dict[str, Any]]:
    """The private chat with ``user_id`` as that user's client shows it: deleted messages vanish."""
    messages = [m for m in world.messages.get(user_id, {}).values() if not m.deleted]
    return [message_view(m) for m in messages[-MAX_MESSAGES:]]


def _trim_error(error: str | None) -> tuple[str | None, str | None]:
    """A traceback's last line (the exception) is what tells most; the tooltip keeps its tail."""
    if not error:
        return None, None
    lines = [line for line in error.strip().splitlines() if line.strip()]
    last = lines[-1].strip() if lines else error.strip()
    preview = last if len(last) <= ERROR_PREVIEW else last[: ERROR_PREVIEW - 1] + "…"
    return preview, error.strip()[-ERROR_TITLE:]


def module_view(status: dict[str, Any]) -> dict[str, Any]:
    error, error_full = _trim_error(status.get("last_error"))
    uss = status.get("uss")  # what the module really costs: RSS counts pages shared with the zygote
    return {
        "name": status["name"],
        "version": status.get("version"),
        "state": status.get("state"),
        "pid": status.get("pid"),
        "restarts": status.get("restarts", 0),
        "uss_mb": round(uss / 2**20, 1) if isinstance(uss, int | float) else None,
        "last_error": error,
        "last_error_full": error_full,
    }
