# Expiry reminder: takes part in the core's periodic notifications and reminds users whose keys
# expire soon, once per key and expiry date.
import time
from datetime import datetime, timezone

from aiogram import Router
from aiogram.exceptions import TelegramAPIError
from aiogram.types import InlineKeyboardButton
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from hooks.hooks import register_hook
from logger import logger

from . import settings, texts
from .models import ExpiryReminderSent

router = Router()


async def periodic_notify(bot, session, keys, **kwargs):
    # keys — список активных подписок (объекты моделей), уже без замороженных
    now_ms = int(time.time() * 1000)
    horizon = now_ms + settings.REMIND_BEFORE_HOURS * 3600 * 1000
    due = [k for k in keys if k.expiry_time and now_ms < k.expiry_time <= horizon]
    if not due:
        return
    sent_rows = await session.execute(
        select(ExpiryReminderSent.client_id, ExpiryReminderSent.expiry_time).where(
            ExpiryReminderSent.client_id.in_([k.client_id for k in due])
        )
    )
    already = set(sent_rows.all())
    sent = 0
    for key in due:
        if (key.client_id, key.expiry_time) in already or sent >= settings.MAX_PER_CYCLE:
            continue
        when = datetime.fromtimestamp(key.expiry_time / 1000, tz=timezone.utc).strftime("%d.%m.%Y %H:%M UTC")
        kb = InlineKeyboardBuilder()
        kb.row(InlineKeyboardButton(text=texts.BTN_RENEW, callback_data=f"renew_key|{key.email}"))
        try:
            await bot.send_message(key.tg_id, texts.REMINDER.format(key_name=key.email, when=when), reply_markup=kb.as_markup())
        except TelegramAPIError as exc:
            logger.warning("expiry_reminder: cannot remind %s about %s: %s", key.tg_id, key.email, exc)
            continue
        await session.execute(
            insert(ExpiryReminderSent).values(client_id=key.client_id, expiry_time=key.expiry_time).on_conflict_do_nothing()
        )
        sent += 1
    logger.info("expiry_reminder: %d reminders sent, %d keys due", sent, len(due))


register_hook("periodic_notifications", periodic_notify)
