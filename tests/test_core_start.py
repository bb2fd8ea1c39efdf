"""/start, the start menu, deep-link payloads (start_link, referrals) and the about screen."""

from __future__ import annotations

import pytest
from aiogram.types import InlineKeyboardButton

from database import add_user, async_session_maker, get_referral_count
from tests.core_fixtures import callbacks, hooked, press, running_core, send, shown

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


async def test_start_menu(db: str) -> None:
    async def start_menu(chat_id, session, **kwargs):
        return InlineKeyboardButton(text="Модуль", callback_data="mod|start")

    entries: list[dict] = []
    with hooked("start_menu", start_menu), hooked("start_entry", lambda **kw: entries.append(kw)):
        async with running_core() as core:
            user = core.user(2001, "Ivan")
            menu = await send(user, "/start", "Добро пожаловать")
            assert menu.photo_file_id is None and menu.text  # a text screen: modules edit it with edit_text
            # Profile, trial (unused), the module's button before "about", then support.
            assert callbacks(menu)[:4] == ["profile", "create_key", "mod|start", "about_vpn"]
            assert entries and entries[0]["event"].text == "/start" and entries[0]["admin"] is False

            about = await press(user, "about_vpn", "О сервисе")
            assert "пробная подписка" in shown(about)
            assert callbacks(about)[-1] == "start"
            back = await press(user, "start", "Добро пожаловать")
            assert back.message_id == about.message_id  # edited in place
    assert len(entries) == 2  # /start and the "start" button


async def test_start_payload_fires_start_link_then_credits_referral(db: str) -> None:
    async with async_session_maker() as session:
        await add_user(session, 3000, first_name="Referrer")
    parts: list[tuple[str, int]] = []

    async def start_link(message, state, session, user_data, part, **kwargs):
        # The hook runs before the core's referral handling: no referral yet.
        parts.append((part, await get_referral_count(session, 3000)))

    with hooked("start_link", start_link):
        async with running_core() as core:
            referrer = core.user(3000, "Referrer")
            invited = core.user(3001, "Olga")
            await send(invited, "/start ref3000-promo42", "Добро пожаловать")
            notice = await referrer.wait_for_reply()
            assert "присоединился" in shown(notice)

            # A second /start with a referral payload changes nothing: the user is no longer new.
            await send(referrer, "/start ref3001", "Добро пожаловать")
            # Self-referral of a new user is ignored as well.
            await send(core.user(3002, "Self"), "/start ref3002", "Добро пожаловать")

    assert parts[:2] == [("ref3000", 0), ("promo42", 0)]
    async with async_session_maker() as session:
        assert await get_referral_count(session, 3000) == 1
        assert await get_referral_count(session, 3001) == 0
        assert await get_referral_count(session, 3002) == 0
