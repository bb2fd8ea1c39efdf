"""Bot API method handlers: validate like Telegram, mutate the ``World``, return results.

Each handler takes the world and the already-parsed request params and returns the
``result`` value; failures raise ``ApiError`` carrying Telegram's exact description.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from .state import StoredFile, StoredMessage, World

MAX_TEXT = 4096
WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
DEFAULT_MAX_CONNECTIONS = 40
MAX_MAX_CONNECTIONS = 100_000  # telegram-bot-api's --local limit (Telegram's own: 100)
MAX_CAPTION = 1024
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are exactly the same "
    "as a current content and reply markup of the message"
)
BUTTON_ACTIONS = (
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


class ApiError(Exception):
    """A Bot API failure; the server turns it into ``{"ok": false, ...}``."""

    def __init__(self, description: str, error_code: int = 400, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.description = description
        self.error_code = error_code
        self.parameters = parameters


@dataclass
class UploadedFile:
    """A multipart file part, kept apart from plain string fields."""

    filename: str | None
    data: bytes
    content_type: str | None


Params = dict[str, Any]
Handler = Callable[[World, Params], Awaitable[Any]]
HANDLERS: dict[str, Handler] = {}


def method(name: str) -> Callable[[Handler], Handler]:
    def register(func: Handler) -> Handler:
        HANDLERS[name.lower()] = func
        return func

    return register


# --- parameter helpers ---------------------------------------------------------------------


def _json(value: Any) -> Any:
    """Form fields carry objects as JSON strings; JSON bodies carry them as objects."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError as e:
            raise ApiError("Bad Request: can't parse JSON object") from e
    return value


def _int(params: Params, key: str, default: int | None = None) -> int | None:
    value = params.get(key)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError) as e:
        raise ApiError(f"Bad Request: invalid {key} specified") from e


def _bool(params: Params, key: str) -> bool:
    value = params.get(key)
    return value is True or (isinstance(value, str) and value.lower() in ("true", "1"))


def _chat_id(world: World, params: Params) -> int:
    value = params.get("chat_id")
    if value is None or value == "":
        raise ApiError("Bad Request: chat_id is empty")
    user = world.find_chat(value)
    if user is None:
        raise ApiError("Bad Request: chat not found")
    return user.id


def _check_text(text: Any, *, caption: bool = False) -> str | None:
    if caption:
        if text is not None and len(text) > MAX_CAPTION:
            raise ApiError("Bad Request: message caption is too long")
        return text
    if text is None or not str(text).strip():
        raise ApiError("Bad Request: message text is empty")
    if len(text) > MAX_TEXT:
        raise ApiError("Bad Request: message is too long")
    return str(text)


def _inline_markup(params: Params) -> dict[str, Any] | None:
    """Only an inline keyboard is kept on a sent message (aiogram cannot parse a reply keyboard back)."""
    markup = _reply_markup(params)
    return markup if markup and "inline_keyboard" in markup else None


def _reply_markup(params: Params) -> dict[str, Any] | None:
    """Parse and validate reply_markup; inline keyboards get Telegram's button checks."""
    raw = params.get("reply_markup")
    if raw is None or raw == "":
        return None
    markup = _json(raw)
    if not isinstance(markup, dict):
        raise ApiError("Bad Request: can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise ApiError("Bad Request: can't parse inline keyboard button: InlineKeyboardButton must be an Object")
        for row in rows:
            for button in row:
                _check_button(button)
    return markup


def _check_button(button: Any) -> None:
    if not isinstance(button, dict):
        raise ApiError("Bad Request: can't parse inline keyboard button: InlineKeyboardButton must be an Object")
    if not isinstance(button.get("text"), str) or not button["text"]:
        raise ApiError('Bad Request: can\'t parse inline keyboard button: Field "text" must be of type String')
    actions = [key for key in BUTTON_ACTIONS if key in button]
    if not actions:
        raise ApiError("Bad Request: can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
    if len(actions) > 1:
        raise ApiError("Bad Request: can't parse inline keyboard button: exactly one of the optional fields must be used")
    if "callback_data" in button:
        data = button["callback_data"]
        if not isinstance(data, str) or not 1 <= len(data.encode()) <= 64:
            raise ApiError("Bad Request: BUTTON_DATA_INVALID")


def _entities(params: Params, key: str) -> list[dict[str, Any]] | None:
    raw = params.get(key)
    return None if raw in (None, "") else _json(raw)


def _resolve_file(world: World, params: Params, key: str, kind: str) -> StoredFile:
    """A file param is an upload (direct or ``attach://name``), an existing file_id, or a URL."""
    value = params.get(key)
    if isinstance(value, str) and value.startswith("attach://"):
        value = params.get(value.removeprefix("attach://"))
    if isinstance(value, UploadedFile):
        return world.store_file(kind, value.data, file_name=value.filename, mime_type=value.content_type)
    if not isinstance(value, str) or not value:
        raise ApiError(f"Bad Request: there is no {kind} in the request")
    if value.startswith(("http://", "https://")):
        # No network access in tests: remember the URL, store no bytes.
        return world.store_file(kind, b"", file_name=value.rsplit("/", 1)[-1] or None, url=value)
    stored = world.files.get(value)
    if stored is None:
        raise ApiError("Bad Request: wrong file identifier/HTTP URL specified")
    return stored


def _message_to_edit(world: World, params: Params) -> StoredMessage:
    if params.get("inline_message_id"):
        raise ApiError("Bad Request: message to edit not found")  # inline mode is not simulated
    chat_id = _chat_id(world, params)
    message_id = _int(params, "message_id")
    if message_id is None:
        raise ApiError("Bad Request: message identifier is not specified")
    message = world.get_message(chat_id, message_id)
    if message is None:
        raise ApiError("Bad Request: message to edit not found")
    if not message.sender.is_bot:
        raise ApiError("Bad Request: message can't be edited")
    return message


def _apply_edit(world: World, message: StoredMessage, **changes: Any) -> dict[str, Any]:
    """Apply an edit unless nothing changes — then fail like Telegram does."""
    if all(getattr(message, key) == value for key, value in changes.items()):
        raise ApiError(NOT_MODIFIED)
    for key, value in changes.items():
        setattr(message, key, value)
    message.edit_date = int(time.time())
    world.touch(message)
    return message.to_dict()


# --- identity, updates, webhook ------------------------------------------------------------


@method("getMe")
async def get_me(world: World, params: Params) -> Any:
    return {
        **world.bot.to_dict(),
        "can_join_groups": True,
        "can_read_all_group_messages": False,
        "supports_inline_queries": False,
    }


@method("getUpdates")
async def get_updates(world: World, params: Params) -> Any:
    if world.webhook.get("url"):
        raise ApiError(
            "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first", 409
        )
    offset = _int(params, "offset")
    limit = min(max(_int(params, "limit", 100) or 100, 1), 100)
    timeout = max(_int(params, "timeout", 0) or 0, 0)
    if offset is not None:
        if offset < 0:
            # Negative offset: only the last -offset updates are kept, as in Telegram.
            world.updates = world.updates[offset:]
        else:
            world.confirm_updates(offset)
    deadline = asyncio.get_running_loop().time() + timeout
    while not world.updates and not world.closing:
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            break
        await world.wait_change(remaining)
    return list(world.updates[:limit])


@method("setWebhook")
async def set_webhook(world: World, params: Params) -> Any:
    url = params.get("url") or ""
    if not url:  # Telegram: an empty URL removes the webhook
        return await delete_webhook(world, params)
    # Like telegram-bot-api in --local mode: http:// and any port are accepted (Telegram itself wants https).
    if not url.startswith(("https://", "http://")):
        raise ApiError("Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
    secret = params.get("secret_token") or None
    if secret is not None and not WEBHOOK_SECRET.fullmatch(str(secret)):
        raise ApiError("Bad Request: secret token contains unallowed characters")
    max_connections = _int(params, "max_connections", DEFAULT_MAX_CONNECTIONS)
    if max_connections is None or not 1 <= max_connections <= MAX_MAX_CONNECTIONS:
        raise ApiError("Bad Request: bad webhook: max_connections must be between 1 and 100000")
    allowed = _json(params["allowed_updates"]) if params.get("allowed_updates") else None
    keep_errors = world.webhook.get("url") == url
    world.webhook = {
        "url": url,
        "secret_token": secret,
        "allowed_updates": allowed or None,
        "max_connections": max_connections,
        **({k: v for k, v in world.webhook.items() if k.startswith("last_error")} if keep_errors else {}),
    }
    if _bool(params, "drop_pending_updates"):
        world.updates.clear()
    world.notify()  # the delivery starts posting what is pending
    return True


@method("deleteWebhook")
async def delete_webhook(world: World, params: Params) -> Any:
    world.webhook = {}
    if _bool(params, "drop_pending_updates"):
        world.updates.clear()
    world.notify()
    return True


@method("getWebhookInfo")
async def get_webhook_info(world: World, params: Params) -> Any:
    hook = world.webhook
    info: dict[str, Any] = {
        "url": hook.get("url", ""),
        "has_custom_certificate": False,
        "pending_update_count": len(world.updates),
    }
    if hook.get("url"):
        info["max_connections"] = hook["max_connections"]
        for key in ("allowed_updates", "last_error_date", "last_error_message"):
            if hook.get(key):
                info[key] = hook[key]
    return info


@method("setMyCommands")
async def set_my_commands(world: World, params: Params) -> Any:
    commands = _json(params.get("commands") or "[]")
    for command in commands:
        name = command.get("command", "")
        if not name or len(name) > 32 or not all(c.islower() or c.isdigit() or c == "_" for c in name):
            raise ApiError("Bad Request: BOT_COMMAND_INVALID")
        if not 1 <= len(command.get("description", "")) <= 256:
            raise ApiError("Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
    scope = json.dumps(_json(params["scope"]), sort_keys=True) if params.get("scope") else "default"
    world.commands[f"{scope}|{params.get('language_code') or ''}"] = commands
    return True


# --- sending -------------------------------------------------------------------------------


@method("sendMessage")
async def send_message(world: World, params: Params) -> Any:
    chat_id = _chat_id(world, params)
    text = _check_text(params.get("text"))
    message = world.add_message(
        chat_id,
        world.bot,
        text=text,
        entities=_entities(params, "entities"),
        parse_mode=params.get("parse_mode") or None,
        reply_markup=_inline_markup(params),
    )
    return message.to_dict()


async def _send_media(world: World, params: Params, kind: str) -> Any:
    chat_id = _chat_id(world, params)
    caption = _check_text(params.get("caption") or None, caption=True)
    file = _resolve_file(world, params, kind, kind)
    message = world.add_message(
        chat_id,
        world.bot,
        caption=caption,
        caption_entities=_entities(params, "caption_entities"),
        parse_mode=params.get("parse_mode") or None,
        reply_markup=_inline_markup(params),
        **{kind: file},
    )
    return message.to_dict()


@method("sendPhoto")
async def send_photo(world: World, params: Params) -> Any:
    return await _send_media(world, params, "photo")


@method("sendDocument")
async def send_document(world: World, params: Params) -> Any:
    return await _send_media(world, params, "document")


@method("sendVideo")
async def send_video(world: World, params: Params) -> Any:
    return await _send_media(world, params, "video")


@method("sendAnimation")
async def send_animation(world: World, params: Params) -> Any:
    return await _send_media(world, params, "animation")


# --- editing and deleting ------------------------------------------------------------------


@method("editMessageText")
async def edit_message_text(world: World, params: Params) -> Any:
    message = _message_to_edit(world, params)
    text = _check_text(params.get("text"))
    if message.text is None:
        raise ApiError("Bad Request: there is no text in the message to edit")
    return _apply_edit(world, message, text=text, entities=_entities(params, "entities"), reply_markup=_reply_markup(params))


@method("editMessageReplyMarkup")
async def edit_message_reply_markup(world: World, params: Params) -> Any:
    message = _message_to_edit(world, params)
    return _apply_edit(world, message, reply_markup=_reply_markup(params))


@method("editMessageCaption")
async def edit_message_caption(world: World, params: Params) -> Any:
    message = _message_to_edit(world, params)
    if message.photo is None and message.document is None:
        raise ApiError("Bad Request: there is no caption in the message to edit")
    caption = _check_text(params.get("caption") or None, caption=True)
    return _apply_edit(
        world,
        message,
        caption=caption,
        caption_entities=_entities(params, "caption_entities"),
        reply_markup=_reply_markup(params),
    )


_MEDIA_KINDS = ("photo", "document", "video", "animation")


@method("editMessageMedia")
async def edit_message_media(world: World, params: Params) -> Any:
    message = _message_to_edit(world, params)
    media = _json(params.get("media") or "null")
    if not isinstance(media, dict) or media.get("type") not in _MEDIA_KINDS:
        raise ApiError("Bad Request: can't parse InputMedia JSON object")
    if message.text is not None:
        raise ApiError("Bad Request: there is no media in the message to edit")
    kind = media["type"]
    file = _resolve_file(world, {**params, kind: media.get("media")}, kind, kind)
    caption = _check_text(media.get("caption") or None, caption=True)
    changes: dict[str, Any] = {
        **{other: (file if other == kind else None) for other in _MEDIA_KINDS},
        "caption": caption,
        "reply_markup": _reply_markup(params),
    }
    # Re-sending the very same file_id with the same caption and markup is "not modified" too.
    return _apply_edit(world, message, **changes)


@method("deleteMessage")
async def delete_message(world: World, params: Params) -> Any:
    chat_id = _chat_id(world, params)
    message = world.get_message(chat_id, _int(params, "message_id") or 0)
    if message is None:
        raise ApiError("Bad Request: message to delete not found")
    message.deleted = True
    world.notify()
    return True


# --- callbacks and chats -------------------------------------------------------------------


@method("answerCallbackQuery")
async def answer_callback_query(world: World, params: Params) -> Any:
    record = world.callback_queries.get(str(params.get("callback_query_id") or ""))
    if record is None or record.answer is not None:
        raise ApiError("Bad Request: query is too old and response timeout expired or query ID is invalid")
    text = params.get("text") or None
    if text is not None and len(text) > 200:
        raise ApiError("Bad Request: MESSAGE_TOO_LONG")
    record.answer = {
        "callback_query_id": record.id,
        "text": text,
        "show_alert": _bool(params, "show_alert"),
        "url": params.get("url") or None,
        "cache_time": _int(params, "cache_time", 0),
    }
    world.notify()
    return True


# ChatFullInfo requires this object; a private chat with a fresh user accepts no gifts.
_GIFT_TYPES = dict.fromkeys(
    ("unlimited_gifts", "limited_gifts", "unique_gifts", "premium_subscription", "gifts_from_channels"), False
)


@method("getChat")
async def get_chat(world: World, params: Params) -> Any:
    chat_id = _chat_id(world, params)
    chat = {**world.users[chat_id].private_chat(), "accent_color_id": 0, "max_reaction_count": 11}
    chat["accepted_gift_types"] = _GIFT_TYPES
    pins = world.pinned.get(chat_id)
    pinned = world.get_message(chat_id, pins[-1]) if pins else None
    if pinned is not None:
        chat["pinned_message"] = pinned.to_dict()
    return chat


@method("getChatMember")
async def get_chat_member(world: World, params: Params) -> Any:
    channel = world.channels.get(str(params.get("chat_id")))
    if channel is not None:
        user_id = _int(params, "user_id")
        user = world.users.get(user_id) if user_id is not None else None
        if user is None:
            raise ApiError("Bad Request: PARTICIPANT_ID_INVALID")
        return {"status": "member" if user_id in channel else "left", "user": user.to_dict()}
    chat_id = _chat_id(world, params)
    user_id = _int(params, "user_id")
    if user_id == world.bot.id:
        return {"status": "member", "user": world.bot.to_dict()}
    if user_id != chat_id:
        raise ApiError("Bad Request: PARTICIPANT_ID_INVALID")
    return {"status": "member", "user": world.users[chat_id].to_dict()}


# Methods that change what a chat shows besides messages (pins, copies, chat actions).
from . import chat_methods  # noqa: E402,F401  (registers its handlers in HANDLERS)
