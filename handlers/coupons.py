"""Coupons (upstream's ``handlers.coupons``): activation by code (``activate_coupon`` button or
``/activate_coupon``) and by deep link (``/start coupons_<CODE>``, see ``handlers.start``).

A money coupon credits the balance (recorded as a ``coupon`` payment); a days coupon extends a
key the user picks, on its panel; a percent coupon is recorded for the user and discounts their
next purchase or renewal (``handlers.payments.coupon_discount``). One activation per user, at most
``usage_limit`` in all: the activation is claimed in the same transaction that gives the money or
the days, or that records the discount.
"""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from database import (
    add_payment,
    add_user,
    check_coupon_usage,
    claim_coupon,
    get_coupon_by_code,
    get_key_count,
    get_keys,
    get_last_payments,
    get_tariff_by_id,
    update_balance,
    update_key_expiry,
)
from database.models import Coupon, Key
from logger import logger
from panels import PanelError

from .buttons import MAIN_MENU
from .keys.format import MSK
from .keys.operations import renew_key_in_cluster
from .profile import process_callback_view_profile
from .texts import (
    COUPON_ALREADY_USED_MSG,
    COUPON_DAYS_ACTIVATED_MSG,
    COUPON_INPUT_PROMPT,
    COUPON_NOT_FOUND_MSG,
    COUPONS_DAYS_MESSAGE,
)
from .utils import answer_callback, callback_args, edit_or_send_message, format_days, format_money
from .wording import extract_user_data

router = Router(name="core_coupons")

LIMIT_REACHED = "❌ Лимит активаций купона исчерпан."
NEW_USERS_ONLY = "❌ Этот купон только для новых пользователей."
NO_KEYS_TO_EXTEND = "❌ У вас нет активных подписок для продления."
NOT_APPLICABLE = "❌ Этот купон нельзя активировать."
DISCOUNT_ACTIVATED = "✅ Купон активирован: скидка <b>{percent}%</b> на следующую покупку или продление подписки{condition}."
KEY_UNAVAILABLE = "❌ Подписка не найдена или заморожена."
ACTIVATION_FAILED = "❌ Не удалось активировать купон, попробуйте позже."
CANCELLED = "⚠️ Активация купона отменена."


class CouponActivationState(StatesGroup):
    waiting_for_coupon_code = State()
    waiting_for_key_selection = State()


@router.callback_query(F.data == "activate_coupon")
@router.message(F.text == "/activate_coupon")
async def handle_activate_coupon(callback_query_or_message: Message | CallbackQuery, state: FSMContext) -> None:
    if isinstance(callback_query_or_message, CallbackQuery):
        await answer_callback(callback_query_or_message)
        target = callback_query_or_message.message
    else:
        target = callback_query_or_message
    builder = InlineKeyboardBuilder()
    builder.row(InlineKeyboardButton(text=MAIN_MENU, callback_data="exit_coupon_input"))
    await edit_or_send_message(target, COUPON_INPUT_PROMPT, reply_markup=builder.as_markup(), force_text=True)
    await state.set_state(CouponActivationState.waiting_for_coupon_code)


@router.message(CouponActivationState.waiting_for_coupon_code, F.text)
async def process_coupon_code(message: Message, state: FSMContext, session: AsyncSession) -> None:
    await activate_coupon(message, state, session, coupon_code=(message.text or "").strip())


async def activate_coupon(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    coupon_code: str,
    admin: bool = False,
    user_data: dict[str, Any] | None = None,
) -> None:
    """Activate ``coupon_code`` for the user (``user_data`` as ``handlers.start`` builds it, else
    the message's sender) and answer in the chat of ``message``."""
    coupon = await get_coupon_by_code(session, coupon_code)
    if coupon is None:
        builder = InlineKeyboardBuilder()
        builder.row(InlineKeyboardButton(text=MAIN_MENU, callback_data="exit_coupon_input"))
        await message.answer(COUPON_NOT_FOUND_MSG, reply_markup=builder.as_markup())
        return
    user = dict(user_data) if user_data else _user_columns(message)
    tg_id = int(user["tg_id"])
    refusal = await _refusal(session, coupon, tg_id)
    if refusal:
        await message.answer(refusal)
        await state.clear()
        return
    await add_user(session, **user)
    if (coupon.amount or 0) > 0:
        await _credit(message, session, coupon, tg_id)
    elif coupon.days:
        await _offer_keys(message, state, session, coupon, tg_id)
        return
    elif coupon.percent:
        await _record_discount(message, session, coupon, tg_id)
    else:
        await message.answer(NOT_APPLICABLE)
    await state.clear()


def _user_columns(message: Message) -> dict[str, Any]:
    user = message.from_user
    if user is None or user.is_bot:  # called with the bot's own message: the chat is the user
        return {"tg_id": message.chat.id, "username": message.chat.username, "first_name": message.chat.first_name}
    return extract_user_data(user)


async def _refusal(session: AsyncSession, coupon: Coupon, tg_id: int) -> str | None:
    """Why ``tg_id`` cannot activate ``coupon`` now (None: they can)."""
    if coupon.is_used or (coupon.usage_count or 0) >= (coupon.usage_limit or 0):
        return LIMIT_REACHED
    if await check_coupon_usage(session, coupon.id, tg_id):
        return COUPON_ALREADY_USED_MSG
    if coupon.new_users_only and (await get_key_count(session, tg_id) or await get_last_payments(session, tg_id, 1)):
        return NEW_USERS_ONLY  # "new": never had a key nor paid
    return None


async def _credit(message: Message, session: AsyncSession, coupon: Coupon, tg_id: int) -> None:
    amount = int(coupon.amount or 0)
    if not await claim_coupon(session, coupon, tg_id):
        await session.rollback()
        await message.answer(LIMIT_REACHED)
        return
    await add_payment(session, tg_id, amount, "coupon", metadata={"coupon": coupon.code})
    await update_balance(session, tg_id, amount)  # commits the claim and the payment with the money
    await message.answer(f"✅ Купон активирован, на баланс начислено {format_money(amount)} ₽.")


async def _record_discount(message: Message, session: AsyncSession, coupon: Coupon, tg_id: int) -> None:
    if not await claim_coupon(session, coupon, tg_id, pending=True):
        await session.rollback()
        await message.answer(LIMIT_REACHED)
        return
    await session.commit()
    conditions = []
    if coupon.min_order_amount:
        conditions.append(f"от {format_money(coupon.min_order_amount)} ₽")
    if coupon.max_discount_amount:
        conditions.append(f"не больше {format_money(coupon.max_discount_amount)} ₽")
    condition = f" ({', '.join(conditions)})" if conditions else ""
    await message.answer(DISCOUNT_ACTIVATED.format(percent=coupon.percent, condition=condition))


async def _offer_keys(message: Message, state: FSMContext, session: AsyncSession, coupon: Coupon, tg_id: int) -> None:
    keys = [k for k in await get_keys(session, tg_id) if not k.is_frozen]
    if not keys:
        await message.answer(NO_KEYS_TO_EXTEND)
        await state.clear()
        return
    builder = InlineKeyboardBuilder()
    text = COUPONS_DAYS_MESSAGE
    for key in keys:
        name = html.escape((key.alias or key.email or "").strip())
        until = datetime.fromtimestamp((key.expiry_time or 0) / 1000, MSK).strftime("до %d.%m.%y, %H:%M")
        text += f"• <b>{name}</b> ({until})\n"
        builder.button(text=name, callback_data=f"extend_key|{key.client_id}|{coupon.id}")
    builder.button(text="Отмена", callback_data="cancel_coupon_activation")
    builder.adjust(1)
    await message.answer(text + "</blockquote>", reply_markup=builder.as_markup())
    await state.set_state(CouponActivationState.waiting_for_key_selection)
    await state.update_data(coupon_id=coupon.id, user_id=tg_id)


@router.callback_query(F.data.startswith("extend_key|"))
async def handle_key_extension(
    callback_query: CallbackQuery, state: FSMContext, session: AsyncSession, admin: bool = False
) -> None:
    """Extend the chosen key by the coupon's days: claim the activation, move the expiry on the
    panel, then store it (the claim is committed with the new expiry, or rolled back)."""
    client_id, raw_coupon = callback_args(callback_query, 2)
    tg_id = callback_query.from_user.id
    await answer_callback(callback_query)
    coupon = await session.get(Coupon, int(raw_coupon)) if raw_coupon.isdigit() else None
    key = await session.scalar(select(Key).where(Key.tg_id == tg_id, Key.client_id == client_id))
    refusal = LIMIT_REACHED if coupon is None or not coupon.days else await _refusal(session, coupon, tg_id)
    if refusal is None and (key is None or key.is_frozen):
        refusal = KEY_UNAVAILABLE
    if refusal is not None:
        await edit_or_send_message(callback_query.message, refusal)
        await state.clear()
        return
    assert coupon is not None and coupon.days and key is not None  # refused above otherwise
    if not await claim_coupon(session, coupon, tg_id):
        await session.rollback()
        await edit_or_send_message(callback_query.message, LIMIT_REACHED)
        await state.clear()
        return
    now_ms = int(datetime.now(MSK).timestamp() * 1000)
    new_expiry = max(now_ms, key.expiry_time or 0) + coupon.days * 86_400_000
    tariff = await get_tariff_by_id(session, key.tariff_id) if key.tariff_id else None
    try:
        renewed = await renew_key_in_cluster(
            cluster_id=key.server_id or "",
            email=key.email or "",
            client_id=client_id,
            new_expiry_time=new_expiry,
            total_gb=int(key.current_traffic_limit or (tariff or {}).get("traffic_limit") or 0),
            session=session,
            hwid_device_limit=int(key.current_device_limit or (tariff or {}).get("device_limit") or 0),
            reset_traffic=False,
            plan=key.tariff_id,
        )
    except (PanelError, ValueError) as e:
        logger.error("[coupons] the panel did not extend %s for %s: %s", key.email, tg_id, e)
        renewed = False
    if not renewed:
        await session.rollback()  # the activation is not used up
        await edit_or_send_message(callback_query.message, ACTIVATION_FAILED)
        await state.clear()
        return
    await update_key_expiry(session, client_id, new_expiry)  # commits the claim with the expiry
    until = datetime.fromtimestamp(new_expiry / 1000, MSK).strftime("%d.%m.%y, %H:%M")
    if callback_query.message is not None:  # None: a button under an inline-mode message
        await callback_query.message.answer(
            COUPON_DAYS_ACTIVATED_MSG.format(
                alias=html.escape(key.alias or key.email or ""), days=format_days(coupon.days), expiry=until
            )
        )
    await process_callback_view_profile(callback_query.message, state, admin, session)


@router.callback_query(F.data == "cancel_coupon_activation")
async def cancel_coupon_activation(
    callback_query: CallbackQuery, state: FSMContext, admin: bool = False, session: AsyncSession | None = None
) -> None:
    await answer_callback(callback_query)
    await edit_or_send_message(callback_query.message, CANCELLED)
    await process_callback_view_profile(callback_query.message, state, admin, session)


@router.callback_query(F.data == "exit_coupon_input")
async def handle_exit_coupon_input(
    callback_query: CallbackQuery, state: FSMContext, session: AsyncSession | None = None, admin: bool = False
) -> None:
    await answer_callback(callback_query)
    await process_callback_view_profile(callback_query, state, admin, session)
