"""What a sandboxed module may act on through the host's bot (sandbox/bot_api_scope.py)."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.bot_api_scope import SentMessages, bad_file_parameter, refusal, sent_by_result

pytestmark = pytest.mark.anyio
USERS = {5001, 5002}


async def is_user(chat_id: int) -> bool:
    return chat_id in USERS


async def check(method: str, params: dict[str, Any], sent: SentMessages | None = None, **update: Any) -> str | None:
    return await refusal(
        "m",
        method,
        params,
        sent=sent or SentMessages(),
        update_chat=update.get("chat"),
        update_messages=update.get("messages", ()),
        update_inline_message=update.get("inline"),
        granted_chats=update.get("granted", ()),
        is_user=is_user,
    )


@pytest.mark.parametrize(
    "value",
    ["file:///etc/passwd", "/etc/passwd", "../storage/.env", "attach://x/../y", "C:\\boot.ini", "ftp://host/file"],
)
async def test_string_files_are_file_ids_or_http_urls_only(value: str) -> None:
    assert bad_file_parameter({"chat_id": 1, "document": value}) is not None
    media = {"media": [{"type": "photo", "media": "AgACAgIAAxkBAAI"}, {"type": "photo", "media": value}]}
    assert bad_file_parameter(media) == f"media[1].media={value!r}"
    why = await check("sendDocument", {"chat_id": 5001, "document": value})
    assert why is not None and "file id or an http(s) URL" in why and "module 'm'" in why


async def test_file_ids_and_urls_pass() -> None:
    for value in ("AgACAgIAAxkBAAIBZ2Vh-_x", "https://example.com/a.png", "http://example.com/b"):
        assert bad_file_parameter({"photo": value, "caption": "/etc/passwd is just text here"}) is None


async def test_messages_the_module_sent_or_its_updates_message_only() -> None:
    sent = SentMessages(limit=2)
    for key in sent_by_result([{"message_id": 10, "chat": {"id": 5001}}, {"message_id": 11, "chat": {"id": 5001}}]):
        sent.add(key)
    assert await check("editMessageText", {"chat_id": 5001, "message_id": 10, "text": "x"}, sent) is None
    assert await check("deleteMessages", {"chat_id": 5001, "message_ids": [10, 11]}, sent) is None
    why = await check("deleteMessages", {"chat_id": 5001, "message_ids": [10, 12]}, sent)
    assert why is not None and "not message 12 in chat 5001" in why
    assert await check("deleteMessage", {"chat_id": 5002, "message_id": 10}, sent) is not None  # another chat
    assert await check("editMessageText", {"chat_id": 5001, "message_id": 99}, chat=5001, messages=[(5001, 99)]) is None
    copy = {"chat_id": 5001, "from_chat_id": 5002, "message_id": 3}
    assert await check("copyMessage", copy) is not None and await check("copyMessage", copy, messages=[(5002, 3)]) is None
    sent.add((5001, 12))  # the oldest is forgotten beyond the limit
    assert await check("deleteMessage", {"chat_id": 5001, "message_id": 10}, sent) is not None
    inline = {"inline_message_id": "abc", "text": "x"}
    assert await check("editMessageText", inline) is not None and await check("editMessageText", inline, inline="abc") is None


async def test_sending_reaches_the_bots_users_the_updates_chat_and_granted_chats() -> None:
    assert await check("sendMessage", {"chat_id": 5001, "text": "hi"}) is None
    why = await check("sendMessage", {"chat_id": -100777, "text": "spam"})
    assert why is not None and "send_to_chats = [-100777]" in why
    assert await check("sendMessage", {"chat_id": -100777, "text": "x"}, chat=-100777) is None
    assert await check("sendMessage", {"chat_id": -100777, "text": "x"}, granted=(-100777,)) is None
    assert await check("sendMessage", {"chat_id": "@somechannel", "text": "x"}) is not None
    assert await check("getChatMember", {"chat_id": -100777, "user_id": 5001}) is None  # reading is not sending
