"""notify_cycle: periodic_notifications with the non-frozen keys, and the core's 24 h reminder (once)."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from sqlalchemy import update

from database import add_user, async_session_maker, get_key_by_email, store_key
from database.models import Key
from handlers.notifications.general_notifications import notifications_loop, notify_cycle
from local_bot_api import LocalBotAPI
from tests.core_fixtures import hooked

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

HOUR_MS = 3_600_000


async def test_notify_cycle(db: str) -> None:
    now = int(time.time() * 1000)
    async with async_session_maker() as session:
        await add_user(session, 9001, first_name="Anna")
        await add_user(session, 9002, first_name="Boris")
        await store_key(session, 9001, "c-soon", "soon", now + 5 * HOUR_MS, "https://sub.local/c-soon", "local")
        await store_key(session, 9001, "c-later", "later", now + 72 * HOUR_MS, "https://sub.local/c-later", "local")
        await store_key(session, 9002, "c-frozen", "frozen", now + 2 * HOUR_MS, "https://sub.local/c-frozen", "local")
        await store_key(session, 9002, "c-gone", "gone", now - HOUR_MS, "https://sub.local/c-gone", "local")
        await session.execute(update(Key).where(Key.email == "frozen").values(is_frozen=True))
        await session.commit()

    seen: list[list[str]] = []

    async def periodic(bot, session, keys, **kwargs):
        assert isinstance(bot, Bot) and session is not None
        seen.append(sorted(k.email for k in keys))

    async with LocalBotAPI() as api:
        anna, boris = api.user(9001, "Anna"), api.user(9002, "Boris")
        async with Bot(api.token, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url))) as bot:
            with hooked("periodic_notifications", periodic):
                await notify_cycle(bot, async_session_maker)
                await notify_cycle(bot, async_session_maker)  # the reminder is not repeated

                # The loop runs cycles until cancelled.
                loop = asyncio.create_task(notifications_loop(bot, async_session_maker, interval=0.01))
                while len(seen) < 4:
                    await asyncio.sleep(0.01)
                loop.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await loop

    assert seen[0] == seen[1] == ["gone", "later", "soon"]  # every key but the frozen one
    reminders = [m for m in anna.chat if m.from_bot]
    assert len(reminders) == 1 and "soon" in (reminders[0].text or "")
    assert reminders[0].keyboard == [[("⏳ Продлить", "renew_key|soon")]]
    assert boris.chat == []  # frozen and expired keys get no reminder
    async with async_session_maker() as session:
        assert (await get_key_by_email(session, "soon")).notified_24h
        assert not (await get_key_by_email(session, "later")).notified_24h
