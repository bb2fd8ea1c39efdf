"""The notifications cycle (upstream path; modules join it through ``periodic_notifications``)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from aiogram import Bot
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramAPIError
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from database import get_non_frozen_keys
from database.models import Key
from handlers import buttons
from handlers.keys.format import format_expiry
from hooks.hooks import has_registered, run_hooks
from logger import logger
from runtime.calls.hook_arguments import NonFrozenKeys

EXPIRY_REMINDER = "⏰ Подписка <b>{name}</b> истекает {expiry}. Продлите её, чтобы не потерять доступ."
REMIND_BEFORE = timedelta(hours=24)


async def notify_cycle(bot: Bot, session_maker: async_sessionmaker[AsyncSession]) -> None:
    """One pass: modules' ``periodic_notifications`` with every non-frozen key, then the core's reminders."""
    async with session_maker() as session:
        # Module processes read the keys themselves (NonFrozenKeys crosses as a query, not as
        # 100 000 rows); the list is filled here only for hooks registered in the host itself.
        keys = NonFrozenKeys(await get_non_frozen_keys(session) if has_registered("periodic_notifications") else ())
        await run_hooks("periodic_notifications", bot=bot, session=session, keys=keys)
        await session.commit()  # whatever the hooks wrote through this session
    async with session_maker() as session:
        await notify_expiring(bot, session)
        await session.commit()


async def notify_expiring(bot: Bot, session: AsyncSession, now: datetime | None = None) -> int:
    """Remind once about each key ending within 24 h (``notified_24h``); returns how many were sent."""
    now_ms = int((now or datetime.now(UTC)).timestamp() * 1000)
    horizon = now_ms + int(REMIND_BEFORE.total_seconds() * 1000)
    query = select(Key.client_id, Key.tg_id, Key.email, Key.alias, Key.expiry_time).where(
        Key.is_frozen.is_not(True), Key.notified_24h.is_not(True), Key.expiry_time > now_ms, Key.expiry_time <= horizon
    )
    due = (await session.execute(query)).all()
    sent: list[str] = []
    for client_id, tg_id, email, alias, expiry in due:
        markup = InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text=buttons.RENEW_KEY, callback_data=f"renew_key|{email}")]]
        )
        text = EXPIRY_REMINDER.format(name=alias or email, expiry=format_expiry(expiry))
        try:
            await bot.send_message(tg_id, text, reply_markup=markup, parse_mode=ParseMode.HTML)
        except TelegramAPIError as e:
            logger.info("[notifications] reminder to %s failed: %s", tg_id, e)
        sent.append(client_id)  # also when the user blocked the bot: do not retry every cycle
    if sent:
        await session.execute(update(Key).where(Key.client_id.in_(sent)).values(notified_24h=True))
    return len(sent)


async def notifications_loop(bot: Bot, session_maker: async_sessionmaker[AsyncSession], interval: float) -> None:
    """Run :func:`notify_cycle` every ``interval`` seconds until cancelled; one failed pass is logged."""
    while True:
        try:
            await notify_cycle(bot, session_maker)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("[notifications] cycle failed")
        await asyncio.sleep(interval)
