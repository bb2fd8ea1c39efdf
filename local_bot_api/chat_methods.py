"""Pinning, copying and forwarding messages, chat actions: Bot API methods public modules call
besides sending and editing (pinChatMessage & co. pin a module's notice in the user's chat)."""

from __future__ import annotations

import time
from typing import Any

from .methods import ApiError, Params, _chat_id, _inline_markup, _int, method
from .state import StoredMessage, World

_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)


def _existing(world: World, chat_id: int, message_id: int | None, what: str) -> StoredMessage:
    message = world.get_message(chat_id, message_id or 0) if message_id else None
    if message is None:
        raise ApiError(f"Bad Request: message to {what} not found")
    return message


@method("pinChatMessage")
async def pin_chat_message(world: World, params: Params) -> Any:
    chat_id = _chat_id(world, params)
    message = _existing(world, chat_id, _int(params, "message_id"), "pin")
    pins = world.pinned.setdefault(chat_id, [])
    if message.message_id in pins:
        pins.remove(message.message_id)
    pins.append(message.message_id)
    world.notify()
    return True


@method("unpinChatMessage")
async def unpin_chat_message(world: World, params: Params) -> Any:
    """Unpin ``message_id``, or the most recent pin without one (Telegram's behaviour)."""
    chat_id = _chat_id(world, params)
    pins = world.pinned.get(chat_id, [])
    message_id = _int(params, "message_id")
    if message_id is None:
        if not pins:
            raise ApiError("Bad Request: message to unpin not found")
        pins.pop()
    elif message_id in pins:
        pins.remove(message_id)
    else:
        _existing(world, chat_id, message_id, "unpin")  # an unknown message is an error; a known one, fine
    world.notify()
    return True


@method("unpinAllChatMessages")
async def unpin_all_chat_messages(world: World, params: Params) -> Any:
    world.pinned.pop(_chat_id(world, params), None)
    world.notify()
    return True


@method("sendChatAction")
async def send_chat_action(world: World, params: Params) -> Any:
    _chat_id(world, params)
    if params.get("action") not in _CHAT_ACTIONS:
        raise ApiError("Bad Request: wrong parameter action in request")
    return True


def _copy_fields(source: StoredMessage) -> dict[str, Any]:
    return {
        "text": source.text,
        "entities": source.entities,
        "caption": source.caption,
        "caption_entities": source.caption_entities,
        "photo": source.photo,
        "document": source.document,
        "video": source.video,
        "animation": source.animation,
    }


def _source(world: World, params: Params) -> StoredMessage:
    from_chat = _chat_id(world, {"chat_id": params.get("from_chat_id")})
    source = world.get_message(from_chat, _int(params, "message_id") or 0)
    if source is None or source.deleted:
        raise ApiError("Bad Request: message to copy not found")
    return source


@method("copyMessage")
async def copy_message(world: World, params: Params) -> Any:
    """The same content as a new message from the bot (no "forwarded from"); returns its id."""
    source = _source(world, params)
    fields = _copy_fields(source)
    if params.get("caption") is not None and source.text is None:
        fields["caption"] = params.get("caption")
    message = world.add_message(_chat_id(world, params), world.bot, reply_markup=_inline_markup(params), **fields)
    return {"message_id": message.message_id}


@method("forwardMessage")
async def forward_message(world: World, params: Params) -> Any:
    source = _source(world, params)
    message = world.add_message(_chat_id(world, params), world.bot, **_copy_fields(source))
    data = message.to_dict()
    data["forward_origin"] = {"type": "user", "sender_user": source.sender.to_dict(), "date": source.date or int(time.time())}
    return data
