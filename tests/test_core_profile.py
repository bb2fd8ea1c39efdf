"""Profile (balance, keys, referrals, profile_menu hook), invite, and the admin panel's visibility."""

from __future__ import annotations

import pytest
from aiogram.types import InlineKeyboardButton

from database import add_admin, add_referral, add_user, async_session_maker, store_key, update_balance
from tests.core_fixtures import callbacks, hooked, press, reply_with, running_core, send, shown

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


async def test_profile_shows_balance_keys_and_module_button(db: str) -> None:
    async with async_session_maker() as session:
        await add_user(session, 4001, first_name="Anna")
        await add_user(session, 4002, first_name="Friend")
        await update_balance(session, 4001, 250.5)
        await store_key(session, 4001, "c-1", "annakey1", 4_102_444_800_000, "https://sub.local/c-1", "local")
        await add_referral(session, 4002, 4001)
    seen: list[dict] = []

    async def profile_menu(chat_id, admin, session, **kwargs):
        seen.append({"chat_id": chat_id, "admin": admin})
        return {"after": "balance", "button": InlineKeyboardButton(text="🏆 Топ", callback_data="top|open")}

    with hooked("profile_menu", profile_menu):
        async with running_core(admin_ids=[4999]) as core:
            user = core.user(4001, "Anna", username="anna")
            profile = await send(user, "/profile", "Профиль")
            text = shown(profile)
            assert "250.5 ₽" in text and "Подписок: <b>1</b>" in text and "Приглашено друзей: <b>1</b>" in text
            assert callbacks(profile) == ["view_keys", "balance", "top|open", "invite", "instructions", "start"]
            assert seen == [{"chat_id": 4001, "admin": False}]

            invite = await press(user, "invite", "реферальная ссылка")
            assert "?start=ref4001" in shown(invite) and "Приглашено друзей: <b>1</b>" in shown(invite)

            # The module's button, with no module router to take it, is answered by the fallback.
            await press(user, "profile", "Профиль")
            stale = await press(user, "top|open", "больше не работает")
            assert callbacks(stale) == ["profile"]
            assert user.callback_answers[-1]["text"].startswith("Кнопка устарела")


async def test_admin_panel_only_for_admins(db: str) -> None:
    async with async_session_maker() as session:
        await add_user(session, 5003, first_name="Moder")
        await add_admin(session, 5003, role="moderator")
    stats_calls: list[dict] = []

    def admin_panel_hook(admin_role, **kwargs):
        return InlineKeyboardButton(text=f"Модуль ({admin_role})", callback_data="mod|admin")

    def admin_stats_hook(session, now, **kwargs):
        stats_calls.append({"now": now})
        return "📦 Модуль: 7 продаж"

    with hooked("admin_panel", admin_panel_hook), hooked("admin_stats", admin_stats_hook):
        async with running_core(admin_ids=[5001]) as core:
            admin = core.user(5001, "Boss")
            profile = await send(admin, "/profile", "Профиль")
            assert "admin" in callbacks(profile)
            panel = await press(admin, "admin", "Панель администратора")
            assert "superadmin" in shown(panel)
            panel_callbacks = callbacks(panel)
            assert panel_callbacks.index("mod|admin") < panel_callbacks.index("admin_panel:settings:1")
            stats = await press(admin, "admin_panel:stats:1", "Статистика")
            assert "Пользователей: <b>1</b>" in shown(stats) or "Пользователей: <b>2</b>" in shown(stats)
            assert shown(stats).endswith("📦 Модуль: 7 продаж") and stats_calls[0]["now"].tzinfo is None

            moderator = core.user(5003, "Moder")
            profile = await send(moderator, "/profile", "Профиль")
            assert "admin" in callbacks(profile)
            panel = await press(moderator, "admin", "Панель администратора")
            assert "Модуль (moderator)" in panel.buttons

            user = core.user(5002, "Plain")
            profile = await send(user, "/profile", "Профиль")
            assert "admin" not in callbacks(profile)
            await user.send("/admin")  # not a command for users: the fallback hint
            assert "не понял" in shown(await user.wait_for_reply())


async def test_modules_call_the_profile_with_the_bots_message(db: str) -> None:
    """Modules go "back" with ``process_callback_view_profile(callback.message, state, admin, session)``."""
    from handlers.profile import process_callback_view_profile

    async with running_core() as core:
        user = core.user(4101, "Lena")
        sent = await core.bot.send_message(4101, "модуль")
        async with async_session_maker() as session:
            await add_user(session, 4101, first_name="Lena")
            await process_callback_view_profile(sent, None, False, session)
        profile = await reply_with(user, "Профиль")
        assert "Профиль: Lena" in shown(profile) and "<code>4101</code>" in shown(profile)
