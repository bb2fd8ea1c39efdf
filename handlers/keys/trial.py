"""The free trial: one key per user, issued through the VPN panel."""

from __future__ import annotations

import secrets
import string
import uuid
from datetime import UTC, datetime, timedelta

from aiogram import F, Router
from aiogram.types import CallbackQuery, InlineKeyboardButton
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from database import get_key_by_email, store_key
from database.models import Key
from hooks.hook_buttons import insert_hook_buttons
from hooks.hooks import run_hooks
from logger import logger
from panels import ClientSpec, PanelError, get_panel

from .. import buttons, texts
from ..queries import claim_trial
from ..start import trial_enabled
from ..utils import ShownMessage, answer_callback, edit_or_send_message, setting
from .format import format_expiry

router = Router(name="core_trial")

EMAIL_ALPHABET = string.ascii_lowercase + string.digits


@router.callback_query(F.data.in_({"create_key", "trial"}))
async def create_trial_key(callback: CallbackQuery, session: AsyncSession, admin: bool = False) -> None:
    tg_id = callback.from_user.id
    if not trial_enabled():
        await answer_callback(callback, texts.TRIAL_DISABLED, show_alert=True)
        return
    if not await claim_trial(session, tg_id):
        await answer_callback(callback, texts.TRIAL_ALREADY_USED, show_alert=True)
        return
    await answer_callback(callback)
    days = int(setting("TRIAL_TIME", 3) or 3)
    try:
        key = await issue_key(session, tg_id, timedelta(days=days))  # commits, with the claimed trial
    except PanelError as e:
        logger.error("[trial] panel refused a trial key for %s: %s", tg_id, e)
        await session.rollback()  # gives the trial back
        await edit_or_send_message(callback.message, texts.TRIAL_FAILED)
        return
    await show_key_created(callback.message, session, tg_id, admin, key)


async def issue_key(session: AsyncSession, tg_id: int, duration: timedelta, tariff_id: int | None = None) -> Key:
    """Create a client on the panel and its ``keys`` row; commits (the key exists on the panel now)."""
    now = datetime.now(UTC)
    email = await unique_email(session)
    spec = ClientSpec(client_id=str(uuid.uuid4()), email=email, tg_id=tg_id, expiry_ms=int((now + duration).timestamp() * 1000))
    panel = get_panel()
    link = await panel.create_client(spec)
    server_id = panel.panel_type or "local"
    await store_key(session, tg_id, spec.client_id, email, spec.expiry_ms, link, server_id, tariff_id=tariff_id)
    key = await get_key_by_email(session, email)
    assert key is not None  # just stored
    return key


async def unique_email(session: AsyncSession, length: int = 8) -> str:
    while True:
        email = "".join(secrets.choice(EMAIL_ALPHABET) for _ in range(length))
        if (await session.execute(select(Key.email).where(Key.email == email))).first() is None:
            return email


async def show_key_created(message: ShownMessage, session: AsyncSession, tg_id: int, admin: bool, key: Key) -> None:
    builder = InlineKeyboardBuilder()
    builder.row(InlineKeyboardButton(text=buttons.VIEW_KEY, callback_data=f"view_key|{key.email}"))
    results = await run_hooks(
        "key_creation_complete", chat_id=tg_id, admin=admin, session=session, email=key.email, key_name=key.email
    )
    builder = insert_hook_buttons(builder, results)
    builder.row(InlineKeyboardButton(text=buttons.MAIN_MENU, callback_data="profile"))
    text = texts.KEY_CREATED.format(link=key.key, expiry=format_expiry(key.expiry_time))
    await edit_or_send_message(message, text, reply_markup=builder.as_markup(), force_text=True)
