"""Creating a key on a cluster and showing it: the last step of a purchase (or a trial).

Money moves first and comes back on failure: the price is taken from the balance with one
atomic check-and-charge before the panel is asked, and refunded when the panel refuses, so two
concurrent purchases cannot both spend the same roubles.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Any

from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy.ext.asyncio import AsyncSession

from database import get_key_by_email, get_tariff_by_id, update_balance
from database.models import Key
from hooks.hook_buttons import insert_hook_buttons
from hooks.processors import (
    process_cluster_override,
    process_intercept_key_creation_message,
    process_key_creation_complete,
)
from logger import logger
from panels import PanelError

from ... import buttons, texts
from ...clusters import generate_random_email, get_least_loaded_cluster
from ...utils import edit_or_send_message
from ..format import MSK, format_expiry
from ..operations import create_key_on_cluster

moscow_tz = MSK
GB = 1024**3
NOT_ENOUGH = "💳 Недостаточно средств на балансе: пополните его и повторите покупку."
CREATION_FAILED = "❌ Не удалось создать подписку, деньги возвращены на баланс. Попробуйте позже."


async def _refund(session: AsyncSession, tg_id: int, price: int) -> None:
    await session.rollback()
    if price:
        await update_balance(session, tg_id, price)
        logger.warning("[purchase] key creation for %s was cancelled: %s ₽ refunded", tg_id, price)


def traffic_bytes(tariff: dict[str, Any] | None, selected_traffic_gb: int | None) -> int | None:
    """The traffic limit in bytes: the user's choice (GB), else the tariff's (upstream stores
    either bytes or, below 1 GiB, a number of GB)."""
    if selected_traffic_gb:
        return int(selected_traffic_gb) * GB
    raw = int((tariff or {}).get("traffic_limit") or 0)
    return (raw if raw >= GB else raw * GB) or None


async def key_cluster_mode(
    tg_id: int,
    expiry_time: datetime,
    state: FSMContext | None,
    session: AsyncSession,
    message_or_query: Message | CallbackQuery | None = None,
    plan: int | None = None,
    selected_device_limit: int | None = None,
    selected_traffic_gb: int | None = None,
    selected_price_rub: int | None = None,
    skip_balance_charge: bool | None = None,
) -> Key | None:
    """Charge the price of ``plan`` (unless a trial or ``skip_balance_charge``), create the key on
    the least loaded cluster (or the one ``cluster_override`` names) and show it. Returns the key,
    or None when nothing was created (the user was told why)."""
    data = await state.get_data() if state is not None else {}
    is_trial = bool(data.get("is_trial"))
    tariff = await get_tariff_by_id(session, plan) if plan else None
    if selected_price_rub is None:
        selected_price_rub = 0 if is_trial or tariff is None else int(tariff.get("price_rub") or 0)
    price = 0 if skip_balance_charge else int(selected_price_rub or 0)
    device_limit = selected_device_limit if selected_device_limit is not None else (tariff or {}).get("device_limit")
    target = _target_message(message_or_query)
    try:
        cluster = await process_cluster_override(tg_id=tg_id, state_data=data, session=session, plan=plan)
        cluster = cluster or await get_least_loaded_cluster(session)
    except ValueError as e:
        await _tell(tg_id, target, str(e))
        return None
    if price:
        try:
            await update_balance(session, tg_id, -price)  # atomic check-and-charge; commits
        except ValueError:
            await _tell(tg_id, target, NOT_ENOUGH)
            return None
    email = await generate_random_email(session=session)
    try:
        await create_key_on_cluster(
            cluster,
            tg_id,
            str(uuid.uuid4()),
            email,
            int(expiry_time.timestamp() * 1000),
            plan=plan,
            session=session,
            hwid_limit=device_limit,
            traffic_limit_bytes=traffic_bytes(tariff, selected_traffic_gb),
            is_trial=is_trial,
            selected_device_limit=selected_device_limit,
            selected_traffic_limit_gb=selected_traffic_gb,
            selected_price_rub=selected_price_rub,
        )
    except asyncio.CancelledError:
        # Cancelled mid-creation (shutdown, a timeout): the money must not stay taken.
        await asyncio.shield(_refund(session, tg_id, price))
        raise
    except (PanelError, ValueError) as e:
        logger.error("[purchase] cluster %s refused a key for %s: %s", cluster, tg_id, e)
        await session.rollback()  # a claimed trial is given back
        if price:
            await update_balance(session, tg_id, price)  # the refund
        await _tell(tg_id, target, CREATION_FAILED if price else texts.TRIAL_FAILED)
        return None
    key = await get_key_by_email(session, email)
    assert key is not None  # just stored
    if state is not None:
        await state.update_data(is_trial=False, key_creation_in_progress=False)
    await show_key_created(target, session, tg_id, key, message_or_query=message_or_query)
    return key


async def show_key_created(
    target: Message | None,
    session: AsyncSession,
    tg_id: int,
    key: Key,
    admin: bool = False,
    message_or_query: Message | CallbackQuery | None = None,
) -> None:
    """The "subscription created" message (``key_creation_complete`` buttons under it), unless a
    module shows it itself (``intercept_key_creation_message``)."""
    if await process_intercept_key_creation_message(chat_id=tg_id, session=session, target_message=message_or_query):
        return
    builder = InlineKeyboardBuilder()
    builder.row(InlineKeyboardButton(text=buttons.VIEW_KEY, callback_data=f"view_key|{key.email}"))
    results = await process_key_creation_complete(
        chat_id=tg_id, admin=admin, session=session, email=key.email or "", key_name=key.email or ""
    )
    builder = insert_hook_buttons(builder, results)
    builder.row(InlineKeyboardButton(text=buttons.MAIN_MENU, callback_data="profile"))
    text = texts.KEY_CREATED.format(link=key.key, expiry=format_expiry(key.expiry_time))
    await _tell(tg_id, target, text, builder)


def _target_message(message_or_query: Message | CallbackQuery | None) -> Message | None:
    if isinstance(message_or_query, CallbackQuery):
        return message_or_query.message if isinstance(message_or_query.message, Message) else None
    return message_or_query


async def _tell(tg_id: int, target: Message | None, text: str, builder: InlineKeyboardBuilder | None = None) -> None:
    """Edit ``target`` into ``text``; with no message to edit (a purchase completed after a
    payment), a new message to the user."""
    markup = (
        builder or InlineKeyboardBuilder(markup=[[InlineKeyboardButton(text=buttons.MAIN_MENU, callback_data="profile")]])
    ).as_markup()
    if target is not None:
        await edit_or_send_message(target, text, reply_markup=markup, force_text=True)
        return
    from bot import current_bot

    await current_bot().send_message(tg_id, text, reply_markup=markup)
