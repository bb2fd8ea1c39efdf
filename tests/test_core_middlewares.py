"""Outer middlewares (ban, maintenance, throttling) and the fallbacks (stale buttons, unknown text)."""

from __future__ import annotations

import asyncio

import pytest

from database import add_user, async_session_maker, ban_user, is_user_banned
from tests.core_fixtures import callbacks, hooked, press, running_core, send, shown

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


async def test_banned_user_gets_one_short_answer(db: str) -> None:
    async with async_session_maker() as session:
        await add_user(session, 8001, first_name="Bad")
        await ban_user(session, 8001, reason="spam")
    async with running_core() as core:
        user = core.user(8001, "Bad")
        reply = await send(user, "/start", "ограничен")
        assert reply.keyboard == [] and len(user.chat) == 2


async def test_admin_bans_and_unbans_from_the_user_card(db: str) -> None:
    edits: list[dict] = []

    def admin_user_edit(tg_id, is_banned, **kwargs):
        edits.append({"tg_id": tg_id, "is_banned": is_banned})

    with hooked("admin_user_edit", admin_user_edit):
        async with running_core(admin_ids=[8100]) as core:
            victim = core.user(8101, "Victim")
            await send(victim, "/start", "Добро пожаловать")
            admin = core.user(8100, "Boss")
            await send(admin, "/admin", "Панель администратора")
            await press(admin, "admin_panel:search_user:1", "Telegram ID")
            card = await send(admin, "8101", "Пользователь 8101")
            assert "активен" in shown(card)
            banned = await press(admin, "admin_users:users_ban:8101::0", "заблокирован")
            assert "admin_users:users_unban:8101::0" in callbacks(banned)
            await send(victim, "/start", "ограничен")
            await press(admin, "admin_users:users_unban:8101::0", "активен")
            await send(victim, "/start", "Добро пожаловать")
    assert edits == [{"tg_id": 8101, "is_banned": False}, {"tg_id": 8101, "is_banned": True}, {"tg_id": 8101, "is_banned": False}]
    async with async_session_maker() as session:
        assert not await is_user_banned(session, 8101)


async def test_maintenance_mode_lets_only_admins_in(db: str) -> None:
    async with running_core(admin_ids=[8200]) as core:
        admin = core.user(8200, "Boss")
        user = core.user(8201, "User")
        await send(admin, "/admin", "Панель администратора")
        await press(admin, "admin_panel:settings:1", "Режим обслуживания")
        await press(admin, "admin_panel:maintenance:1", "включён")
        assert await core.dp["maintenance"].is_on()  # the dispatcher's switch, not a process-wide one
        await send(user, "/start", "техническом обслуживании")
        await send(admin, "/start", "Добро пожаловать")  # admins keep working
        await send(admin, "/admin", "Панель администратора")
        await press(admin, "admin_panel:settings:1", "Режим обслуживания")
        await press(admin, "admin_panel:maintenance:1", "выключен")
        await send(user, "/start", "Добро пожаловать")


async def test_throttling_answers_a_too_fast_press(db: str) -> None:
    async with running_core(throttle_rate=0.5) as core:
        user = core.user(8301, "Fast")
        start = await send(user, "/start", "Добро пожаловать")
        await asyncio.sleep(0.6)
        await user.press("about_vpn", message_id=start.message_id)
        await user.press("about_vpn", message_id=start.message_id)
        answers = await user.wait_until(lambda u: len(u.callback_answers) >= 2 and u.callback_answers)
        assert sorted(a["text"] or "" for a in answers) == ["", "Слишком часто, подождите немного."]


async def test_stale_button_and_unknown_text_are_answered(db: str) -> None:
    said: list[dict] = []

    def user_message(user_id, message_text, username, first_name, last_name, session, message, **kwargs):
        said.append({"user_id": user_id, "text": message_text, "first_name": first_name})

    with hooked("user_message", user_message):
        async with running_core() as core:
            user = core.user(8401, "Chatty")
            hint = await send(user, "привет", "не понял")
            assert callbacks(hint) == ["profile"]
            # A button of a module that is gone (or of an older version of the bot).
            await core.bot.send_message(8401, "old", reply_markup=_markup("old_module|x"))
            stale = await press(user, "old_module|x", "больше не работает")
            assert callbacks(stale) == ["profile"]
            assert user.callback_answers[-1]["text"].startswith("Кнопка устарела")
    assert said == [{"user_id": 8401, "text": "привет", "first_name": "Chatty"}]


def _markup(data: str):
    from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="old", callback_data=data)]])
