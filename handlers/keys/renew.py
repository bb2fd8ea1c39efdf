"""Renewing a key: pick a tariff, pay from the balance, move the expiry on the panel."""

from __future__ import annotations

import html
from datetime import UTC, datetime

from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy.ext.asyncio import AsyncSession

from database import get_balance, update_balance, update_key_expiry
from logger import logger
from panels import ClientSpec, PanelError, get_panel

from .. import buttons, texts
from ..queries import get_renewal_tariffs
from ..utils import answer_callback, callback_args, edit_or_send_message, format_money
from .format import format_expiry
from .key_view import get_own_key

router = Router(name="core_renew")


@router.callback_query(F.data.startswith("renew_key|"))
async def renew_key(callback: CallbackQuery, session: AsyncSession) -> None:
    key_name = callback_args(callback, 1)[0]
    await answer_callback(callback)
    back = InlineKeyboardButton(text=buttons.BACK, callback_data=f"view_key|{key_name}")
    builder = InlineKeyboardBuilder()
    tariffs = await get_renewal_tariffs(session)
    if await get_own_key(session, callback.from_user.id, key_name) is None:
        builder.row(back)
        await edit_or_send_message(callback.message, texts.KEY_NOT_FOUND, reply_markup=builder.as_markup())
        return
    if not tariffs:
        builder.row(back)
        await edit_or_send_message(callback.message, texts.RENEW_NO_TARIFFS, reply_markup=builder.as_markup())
        return
    for tariff in tariffs[:20]:
        label = f"{tariff.name or f'{tariff.duration_days} дн.'} — {tariff.price_rub} ₽"
        builder.row(InlineKeyboardButton(text=label, callback_data=f"renew_tariff|{key_name}|{tariff.id}"))
    builder.row(back)
    balance = float(await get_balance(session, callback.from_user.id) or 0)
    text = texts.RENEW_CHOOSE.format(key_name=html.escape(key_name), balance=format_money(balance))
    await edit_or_send_message(callback.message, text, reply_markup=builder.as_markup(), force_text=True)


@router.callback_query(F.data.startswith("renew_tariff|"))
async def renew_with_tariff(callback: CallbackQuery, session: AsyncSession, state: FSMContext) -> None:
    key_name, tariff_id = callback_args(callback, 2)
    tg_id = callback.from_user.id
    key = await get_own_key(session, tg_id, key_name)
    tariff = next((t for t in await get_renewal_tariffs(session) if str(t.id) == tariff_id), None)
    if key is None or tariff is None:
        await answer_callback(callback, texts.STALE_BUTTON, show_alert=True)
        return
    await answer_callback(callback)
    price = float(tariff.price_rub or 0)
    balance = float(await get_balance(session, tg_id) or 0)
    if balance < price:
        missing = round(price - balance, 2)
        await state.update_data(required_amount=missing, renew_key=key_name, renew_tariff=tariff.id)
        builder = InlineKeyboardBuilder()
        builder.row(InlineKeyboardButton(text=buttons.TOP_UP_BALANCE, callback_data="pay"))
        builder.row(InlineKeyboardButton(text=buttons.BACK, callback_data=f"renew_key|{key_name}"))
        text = texts.RENEW_NOT_ENOUGH.format(
            price=format_money(price), balance=format_money(balance), missing=format_money(missing)
        )
        await edit_or_send_message(callback.message, text, reply_markup=builder.as_markup(), force_text=True)
        return

    try:
        await update_balance(session, tg_id, -price)  # atomic check-and-charge; commits
    except ValueError:  # the balance changed under us
        await answer_callback(callback, texts.RENEW_NOT_ENOUGH_SHORT, show_alert=True)
        return
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    days = tariff.duration_days or 0  # never 0: get_renewal_tariffs only offers tariffs with a duration
    new_expiry = max(key.expiry_time or 0, now_ms) + days * 86_400_000
    spec = ClientSpec(
        client_id=key.client_id, email=key_name, tg_id=tg_id, expiry_ms=new_expiry, device_limit=tariff.device_limit
    )
    try:
        await get_panel().extend(spec)
    except PanelError as e:
        logger.error("[renew] panel refused to extend %s: %s", key_name, e)
        await update_balance(session, tg_id, price)  # give the money back
        await edit_or_send_message(callback.message, texts.RENEW_FAILED)
        return
    key.tariff_id = tariff.id  # flushed by the commit below
    await update_key_expiry(session, key.client_id, new_expiry)
    await state.update_data(required_amount=None)
    builder = InlineKeyboardBuilder()
    builder.row(InlineKeyboardButton(text=buttons.VIEW_KEY, callback_data=f"view_key|{key_name}"))
    text = texts.RENEW_DONE.format(key_name=html.escape(key_name), expiry=format_expiry(new_expiry))
    await edit_or_send_message(callback.message, text, reply_markup=builder.as_markup(), force_text=True)
