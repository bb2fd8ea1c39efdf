"""The Bot API methods modules call (docs/bot-api-methods.md) against the local Bot API server,
and the methods the census added, driven by a real aiogram Bot."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import BufferedInputFile

from local_bot_api import LocalBotAPI
from local_bot_api.methods import HANDLERS
from modcheck.bot_api_methods import methods_used

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "bot-api-methods.md"
ROW = re.compile(r"^\| `(\w+)` \| [^|]+ \| (✅|—[^|]*) \|$", re.M)


def census() -> dict[str, bool]:
    return {name: mark == "✅" for name, mark in ROW.findall(DOC.read_text(encoding="utf-8"))}


def test_the_census_says_what_the_local_server_implements() -> None:
    table = census()
    assert {"pinChatMessage", "unpinChatMessage", "unpinAllChatMessages"} <= set(table)
    assert {name for name, supported in table.items() if supported} == {name for name in table if name.lower() in HANDLERS}


def test_every_method_this_projects_modules_call_is_in_the_census_and_implemented() -> None:
    used = methods_used([ROOT / "modules", ROOT / "tests" / "compat_modules", ROOT / "handlers"])
    table = census()
    missing = {name: sorted(str(p.relative_to(ROOT)) for p in files) for name, files in used.items() if name not in table}
    assert missing == {}, "add these methods to docs/bot-api-methods.md (and the local server)"
    assert [name for name in used if not table[name]] == []


@pytest.fixture
async def api_and_bot():
    async with LocalBotAPI() as api:
        bot = Bot(api.token, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url)))
        try:
            yield api, bot
        finally:
            await bot.session.close()


@pytest.mark.anyio
@pytest.mark.timeout(30)
async def test_pin_unpin_and_unpin_all(api_and_bot) -> None:
    api, bot = api_and_bot
    user = api.user(501, "Pin")
    first = await bot.send_message(user.id, "первое")
    second = await bot.send_message(user.id, "второе")
    assert await bot.pin_chat_message(user.id, first.message_id, disable_notification=True)
    assert await bot.pin_chat_message(user.id, second.message_id)
    chat = await bot.get_chat(user.id)
    assert chat.pinned_message is not None and chat.pinned_message.text == "второе"
    assert await bot.unpin_chat_message(user.id)  # the most recent pin
    assert (await bot.get_chat(user.id)).pinned_message.text == "первое"
    assert await bot.unpin_all_chat_messages(user.id)
    assert (await bot.get_chat(user.id)).pinned_message is None
    with pytest.raises(TelegramBadRequest, match="message to pin not found"):
        await bot.pin_chat_message(user.id, 9999)
    with pytest.raises(TelegramBadRequest, match="message to unpin not found"):
        await bot.unpin_chat_message(user.id)


@pytest.mark.anyio
@pytest.mark.timeout(30)
async def test_video_animation_copy_forward_and_chat_action(api_and_bot) -> None:
    api, bot = api_and_bot
    user = api.user(502, "Media")
    video = await bot.send_video(user.id, BufferedInputFile(b"\x00" * 16, "clip.mp4"), caption="видео")
    assert video.video is not None and video.caption == "видео"
    gif = await bot.send_animation(user.id, BufferedInputFile(b"GIF89a", "fun.gif"))
    assert gif.animation is not None
    copied = await bot.copy_message(user.id, user.id, video.message_id)
    assert api.world.get_message(user.id, copied.message_id).video.file_id == video.video.file_id
    forwarded = await bot.forward_message(user.id, user.id, gif.message_id)
    assert forwarded.animation is not None and forwarded.forward_origin is not None
    assert await bot.send_chat_action(user.id, "typing")
    with pytest.raises(TelegramBadRequest):
        await bot.send_chat_action(user.id, "dancing")
