"""Which chats and messages a sandboxed module may act on through the host's bot.

The method allowlist (``bot_api_policy``) says *what* a module may call; this says *on what*:

- edit, delete, copy or forward only messages the module sent itself (the host records each
  message its sends returned) or the message of the update it is handling (a callback's
  message, the message itself): the bot's other messages in users' chats are not its to touch;
- send to chats of this bot's users (a private chat whose id is a user in the ``users`` table),
  to the chat of the update it is handling, and to chats the operator lists
  (``send_to_chats = [-1001234567890]`` in ``modules.toml``);
- a file given as a string is a Telegram file id or an http(s) URL, never ``file://`` or a
  path: a self-hosted ``telegram-bot-api --local`` would read that from the host's disk.

A refusal is answered as Telegram's 403 (``TelegramForbiddenError`` in the module) and logged by
the gateway with the module's name. Trusted modules are not scoped.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

SENT_REMEMBERED = 20_000  # messages per module the host remembers having sent for it

# Methods and the parameters naming the messages they act on: (chat parameter, message parameters).
ACTS_ON_MESSAGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "editMessageText": ("chat_id", ("message_id",)),
    "editMessageCaption": ("chat_id", ("message_id",)),
    "editMessageMedia": ("chat_id", ("message_id",)),
    "editMessageReplyMarkup": ("chat_id", ("message_id",)),
    "editMessageLiveLocation": ("chat_id", ("message_id",)),
    "editMessageChecklist": ("chat_id", ("message_id",)),
    "stopMessageLiveLocation": ("chat_id", ("message_id",)),
    "stopPoll": ("chat_id", ("message_id",)),
    "deleteMessage": ("chat_id", ("message_id",)),
    "deleteMessages": ("chat_id", ("message_ids",)),
    "setMessageReaction": ("chat_id", ("message_id",)),
    "copyMessage": ("from_chat_id", ("message_id",)),
    "copyMessages": ("from_chat_id", ("message_ids",)),
    "forwardMessage": ("from_chat_id", ("message_id",)),
    "forwardMessages": ("from_chat_id", ("message_ids",)),
}
# Methods whose ``chat_id`` receives a new message (reading a chat, e.g. a channel membership check, is not sending).
SENDING = ("send", "copy", "forward")
# Parameters that hold a file (an upload, a file id or a URL), at any depth (InputMedia items too).
FILE_PARAMETERS = frozenset(
    {
        "photo",
        "audio",
        "document",
        "video",
        "animation",
        "voice",
        "video_note",
        "sticker",
        "thumbnail",
        "media",
        "cover",
        "png_sticker",
        "tgs_sticker",
        "webm_sticker",
        "certificate",
    }
)
_FILE_ID = re.compile(r"[A-Za-z0-9_\-]{1,512}")
_URL = re.compile(r"https?://[^\s]+", re.IGNORECASE)

MessageKey = tuple[int, int]  # (chat id, message id)
IsUser = Callable[[int], Awaitable[bool]]


class SentRecord(Protocol):
    """The messages the host sent for one module: this process's (``SentMessages``), or every
    worker's (``shared_state.sent_messages``: a module may delete on one worker what it sent on another)."""

    async def record(self, keys: list[MessageKey]) -> None: ...

    async def unknown(self, keys: list[MessageKey]) -> list[MessageKey]:
        """Those of ``keys`` the module did not send (or that were forgotten)."""
        ...


class SentMessages:
    """The messages the host sent for one module (most recent ``SENT_REMEMBERED``), in this process."""

    def __init__(self, limit: int = SENT_REMEMBERED) -> None:
        self.limit = limit
        self._keys: OrderedDict[MessageKey, None] = OrderedDict()

    def add(self, key: MessageKey) -> None:
        self._keys[key] = None
        self._keys.move_to_end(key)
        while len(self._keys) > self.limit:
            self._keys.popitem(last=False)

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    async def record(self, keys: list[MessageKey]) -> None:
        for key in keys:
            self.add(key)

    async def unknown(self, keys: list[MessageKey]) -> list[MessageKey]:
        return [key for key in keys if key not in self._keys]


def sent_by_result(result: Any) -> list[MessageKey]:
    """The messages a send's result names (a message, a list of them, or copyMessage's id with its chat)."""
    items = result if isinstance(result, list) else [result]
    keys = []
    for item in items:
        if isinstance(item, dict):
            chat = item.get("chat")
            if isinstance(chat, dict) and type(chat.get("id")) is int and type(item.get("message_id")) is int:
                keys.append((chat["id"], item["message_id"]))
    return keys


def bad_file_parameter(params: Any) -> str | None:
    """The first string file parameter that is neither a file id nor an http(s) URL, described."""
    stack: list[tuple[str, Any]] = [("", params)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                path = f"{where}.{key}" if where else str(key)
                if key in FILE_PARAMETERS and isinstance(item, str) and not (_FILE_ID.fullmatch(item) or _URL.fullmatch(item)):
                    return f"{path}={item[:80]!r}"
                stack.append((path, item))
        elif isinstance(value, list):
            stack.extend((f"{where}[{i}]", item) for i, item in enumerate(value))
    return None


def message_targets(method: str, params: dict[str, Any]) -> tuple[int | str | None, list[Any]] | None:
    """(chat, message ids) a method acts on, or ``None`` if it acts on no existing message."""
    spec = ACTS_ON_MESSAGES.get(method)
    if spec is None:
        return None
    chat_param, message_params = spec
    ids: list[Any] = []
    for name in message_params:
        value = params.get(name)
        ids.extend(value if isinstance(value, list) else [value] if value is not None else [])
    return params.get(chat_param), ids


async def refusal(
    module: str,
    method: str,
    params: dict[str, Any],
    *,
    sent: SentRecord,
    update_chat: int | None,
    update_messages: Iterable[MessageKey],
    update_inline_message: str | None,
    granted_chats: Iterable[int],
    is_user: IsUser | None,
) -> str | None:
    """``None`` when ``module`` may make this call on these chats and messages, else why not (Telegram's wording)."""
    bad = bad_file_parameter(params)
    if bad is not None:
        return (
            f"Forbidden: module {module!r}: a file given as text must be a Telegram file id or an http(s) URL, "
            f"not {bad} (local paths and file:// are never read for a module)"
        )
    inline = params.get("inline_message_id")
    if inline is not None and method in ACTS_ON_MESSAGES and inline != update_inline_message:
        return f"Forbidden: module {module!r} may only edit the inline message of the update it is handling"
    targets = message_targets(method, params)
    if targets is not None and inline is None:
        chat, ids = targets
        own = set(update_messages)
        named = [(chat, i) for i in ids if type(chat) is int and type(i) is int and (chat, i) not in own]
        unknown = set(await sent.unknown(named)) if named else set()
        foreign = [i for i in ids if not (type(chat) is int and type(i) is int) or (chat, i) in unknown]
        if foreign:
            return (
                f"Forbidden: module {module!r} may only {method} messages it sent or the message of the update "
                f"it is handling, not message {foreign[0]!r} in chat {chat!r}"
            )
    chat_id = params.get("chat_id")
    if method.startswith(SENDING) and chat_id is not None:
        if not await _may_send_to(chat_id, update_chat, granted_chats, is_user):
            return (
                f"Forbidden: module {module!r} may send only to this bot's users and the chat of the update it is "
                f"handling, not to chat {chat_id!r}; an operator can grant it in modules.toml: "
                f"[modules.{module}] send_to_chats = [{chat_id!r}]"
            )
    return None


async def _may_send_to(chat_id: Any, update_chat: int | None, granted: Iterable[int], is_user: IsUser | None) -> bool:
    if chat_id == update_chat or chat_id in set(granted):
        return True
    if type(chat_id) is not int:  # "@channelusername": only with a grant
        return False
    return is_user is None or await is_user(chat_id)
