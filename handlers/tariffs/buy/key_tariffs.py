"""A tariff was chosen for a new key (upstream's ``handlers.tariffs.buy.key_tariffs``): check it,
then buy it from the balance, or ask for the shortfall and finish after the payment."""

from __future__ import annotations

from datetime import datetime, timedelta
from math import ceil
from typing import Any

from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy.ext.asyncio import AsyncSession

from database import get_balance, get_tariff_by_id
from hooks.processors import process_check_discount_validity
from logger import logger

from ... import buttons, texts
from ...keys.format import MSK
from ...keys.key_mode.key_cluster_mode import GB
from ...payments.coupon_discount import discounted_price, give_back_discount, spend_discount
from ...payments.currency_rates import format_for_user
from ...payments.fast_payment_flow import try_fast_payment_flow
from ...utils import answer_callback, callback_args, edit_or_send_message

router = Router(name="core_key_tariffs")

CREATING_KEY_BUTTON_TEXT = "⏳ Подождите..."
TARIFF_GONE = "❌ Этот тариф больше недоступен. Выберите другой."
#: groups whose tariffs are given, never sold (the trial; gifts are paid for by the giver).
NOT_FOR_SALE = frozenset({"trial", "gifts"})
#: temporary_data state of a purchase waiting for money (upstream's name).
WAITING_FOR_PAYMENT = "waiting_for_payment"


@router.callback_query(F.data.startswith("select_tariff_plan|"))
async def select_tariff_plan(callback_query: CallbackQuery, session: AsyncSession, state: FSMContext) -> None:
    """A tariff button of the purchase list: the tariff must be on sale (active, not a trial or
    gift group) and pass the modules' ``check_discount_validity``."""
    tg_id = callback_query.from_user.id
    (raw_id,) = callback_args(callback_query, 1)
    tariff = await get_tariff_by_id(session, int(raw_id)) if raw_id.isdigit() else None
    back = InlineKeyboardBuilder(markup=[[InlineKeyboardButton(text=buttons.MAIN_MENU, callback_data="profile")]])
    if tariff is None or not tariff.get("is_active") or tariff.get("group_code") in NOT_FOR_SALE:
        await answer_callback(callback_query)
        await edit_or_send_message(callback_query.message, TARIFF_GONE, reply_markup=back.as_markup())
        return
    refusal = await process_check_discount_validity(chat_id=tg_id, session=session, tariff_group=tariff.get("group_code") or "")
    if refusal:
        await answer_callback(callback_query)
        await edit_or_send_message(callback_query.message, refusal["message"], reply_markup=back.as_markup())
        return
    raw_traffic = int(tariff.get("traffic_limit") or 0)
    await proceed_purchase_with_values(
        callback_query,
        session,
        state,
        tariff,
        duration_days=int(tariff.get("duration_days") or 30),
        price_rub=int(tariff.get("price_rub") or 0),
        selected_device_limit=tariff.get("device_limit"),
        selected_traffic_gb=(raw_traffic // GB if raw_traffic >= GB else raw_traffic) or None,
    )


async def proceed_purchase_with_values(
    callback_query: CallbackQuery,
    session: AsyncSession,
    state: FSMContext,
    tariff: dict[str, Any],
    duration_days: int,
    price_rub: int,
    selected_device_limit: int | None = None,
    selected_traffic_gb: int | None = None,
) -> None:
    """Buy ``tariff`` for ``price_rub`` (less the user's percent coupon) when the balance covers
    it; otherwise remember the purchase (it completes by itself after a payment) and offer to pay
    the shortfall."""
    from ...keys.key_create import create_key  # the purchase screen imports this module

    tg_id = callback_query.from_user.id
    full_price = price_rub
    price_rub, coupon = await discounted_price(callback_query, session, tg_id, full_price)
    balance = float(await get_balance(session, tg_id) or 0)
    if balance < price_rub:
        required = ceil(price_rub - balance)
        payload = {
            "tariff_id": tariff["id"],
            "selected_price_rub": price_rub,
            "selected_duration_days": duration_days,
            "selected_device_limit": selected_device_limit,
            "selected_traffic_limit_gb": selected_traffic_gb,
            "required_amount": required,
            "coupon_id": coupon.id if coupon is not None else None,
        }
        await answer_callback(callback_query)
        await ask_for_shortfall(
            callback_query, session, state, WAITING_FOR_PAYMENT, payload, required, texts.INSUFFICIENT_FUNDS_MSG
        )
        return
    await answer_callback(callback_query)
    creating = InlineKeyboardBuilder(markup=[[InlineKeyboardButton(text=CREATING_KEY_BUTTON_TEXT, callback_data="creating_key")]])
    await edit_or_send_message(callback_query.message, texts.CREATING_CONNECTION_MSG, reply_markup=creating.as_markup())
    coupon_id = coupon.id if coupon is not None else None
    if coupon_id is not None and not await spend_discount(session, coupon_id, tg_id):
        price_rub, coupon_id = full_price, None  # another purchase spent the discount meanwhile
    logger.info("[purchase] %s buys tariff %s for %s ₽", tg_id, tariff["id"], price_rub)
    key = await create_key(
        tg_id,
        datetime.now(MSK) + timedelta(days=duration_days),
        state,
        session,
        callback_query,
        plan=tariff["id"],
        selected_duration_days=duration_days,
        selected_device_limit=selected_device_limit,
        selected_traffic_gb=selected_traffic_gb,
        selected_price_rub=price_rub,
    )
    if key is None:
        await give_back_discount(session, coupon_id, tg_id)


async def ask_for_shortfall(
    callback_query: CallbackQuery,
    session: AsyncSession,
    state: FSMContext,
    temp_key: str,
    payload: dict[str, Any],
    required: int,
    template: str,
) -> None:
    """The fast flow when configured, else "not enough money" with a button to the pay menu (the
    pay menu then offers exactly ``required``)."""
    tg_id = callback_query.from_user.id
    if await try_fast_payment_flow(
        callback_query, session, state, tg_id=tg_id, temp_key=temp_key, temp_payload=payload, required_amount=required
    ):
        return
    amount = await format_for_user(session, tg_id, required, callback_query.from_user.language_code)
    builder = InlineKeyboardBuilder()
    builder.row(InlineKeyboardButton(text=buttons.PAYMENT, callback_data="pay"))
    builder.row(InlineKeyboardButton(text=buttons.MAIN_MENU, callback_data="profile"))
    await edit_or_send_message(callback_query.message, template.format(required_amount=amount), reply_markup=builder.as_markup())
