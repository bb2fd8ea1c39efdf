"""edit_or_send_message against the local Bot API, and IsAdminFilter."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from database import add_admin, add_user, async_session_maker
from filters.admin import IsAdminFilter
from handlers.utils import edit_or_send_message
from local_bot_api import LocalBotAPI

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


async def test_edit_or_send_message() -> None:
    async with LocalBotAPI() as api:
        user = api.user(9501, "Ivan")
        async with Bot(api.token, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url))) as bot:
            sent = await bot.send_message(user.id, "one")
            edited = await edit_or_send_message(sent, "two")
            assert edited is not None and edited.message_id == sent.message_id and edited.text == "two"
            assert await edit_or_send_message(edited, "two") is None  # not modified: no new message
            assert len(user.chat) == 1

            photo = await edit_or_send_message(edited, "pic", media_path="img/pic_view.jpg")
            assert photo is not None and photo.photo and photo.message_id != sent.message_id  # text cannot become media
            again = await edit_or_send_message(photo, "pic 2", media_path="img/pic_view.jpg")  # cached file_id
            assert again is not None and again.message_id == photo.message_id and again.caption == "pic 2"
            captioned = await edit_or_send_message(again, "caption only")
            assert captioned is not None and captioned.caption == "caption only"
            forced = await edit_or_send_message(captioned, "as text", force_text=True)
            assert forced is not None and forced.text == "as text" and forced.message_id != photo.message_id

            await user.send("hello")
            incoming = await bot.get_updates(timeout=0)
            user_message = incoming[-1].message.as_(bot)
            reply = await edit_or_send_message(user_message, "answer")  # a user's message is never edited
            assert reply is not None and reply.text == "answer"
            assert len(user.chat) == 5


async def test_is_admin_filter(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import config

    monkeypatch.setattr(config, "ADMIN_ID", [9601])
    async with async_session_maker() as session:
        await add_user(session, 9602)
        await add_admin(session, 9602, role="moderator")
    check = IsAdminFilter()

    def event(tg_id: int) -> SimpleNamespace:
        return SimpleNamespace(from_user=SimpleNamespace(id=tg_id))

    assert await check(event(9601))  # config.ADMIN_ID, no query
    assert await check(event(9602))  # admins table, own session
    assert not await check(event(9603))
    async with async_session_maker() as session:
        assert await check(event(9602), session=session)  # the handler's session
        assert not await check(event(9603), session=session)
