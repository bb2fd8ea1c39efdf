"""Renewing a key (upstream's ``handlers.keys.key_renew``): ``renew_key|<name>`` lists the tariffs
the key may be renewed with, ``renew_plan|<tariff id>[|<name>]`` buys one — from the balance,
or after paying the shortfall (the renewal then completes by itself, ``payments.pending``).
"""

from __future__ import annotations

import html
from math import ceil
from typing import Any

from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from database import get_balance, get_key_by_email, get_tariff_by_id, get_tariffs, update_balance, update_key_expiry
from database.models import Key, Server
from hooks.hook_buttons import insert_hook_buttons
from hooks.processors import process_renew_tariffs, process_renewal_complete, process_renewal_forbidden_groups
from logger import logger
from panels import PanelError

from .. import buttons, texts
from ..clusters import ALLOWED_GROUP_CODES
from ..payments.coupon_discount import discounted_price, give_back_discount, spend_discount
from ..payments.currency_rates import format_for_user
from ..tariffs.buy.key_tariffs import ask_for_shortfall
from ..utils import answer_callback, callback_args, edit_or_send_message, format_money
from .format import MSK, format_expiry
from .key_mode.key_cluster_mode import traffic_bytes
from .key_view import get_own_key
from .operations import renew_key_in_cluster

router = Router(name="core_key_renew")
moscow_tz = MSK
DAY_MS = 86_400_000
#: temporary_data state of a renewal waiting for money (upstream's name).
WAITING_FOR_RENEWAL_PAYMENT = "waiting_for_renewal_payment"


def one_row(*button: InlineKeyboardButton) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[list(button)])


def normalize_expiry_ms(raw_value: int | float | None) -> int:
    """An expiry in ms, whether stored in seconds, ms or µs (upstream's tolerance)."""
    if not raw_value:
        return 0
    value = int(raw_value)
    if value > 10**13:
        return value // 1000
    return value * 1000 if value < 10**10 else value


async def resolve_cluster_name(session: AsyncSession, server_or_cluster: str) -> str | None:
    """The cluster a key's ``server_id`` stands for (it may be a cluster or a server name)."""
    if await session.scalar(select(Server.id).where(Server.cluster_name == server_or_cluster).limit(1)) is not None:
        return server_or_cluster
    return await session.scalar(select(Server.cluster_name).where(Server.server_name == server_or_cluster).limit(1))


async def renewal_tariffs(session: AsyncSession, tg_id: int, key: Key) -> list[dict[str, Any]]:
    """Active tariffs for renewing ``key``: its current tariff's group, else its cluster's group,
    else every group on sale; never trial, gift or discount groups, nor the groups modules forbid
    (``renewal_forbidden_groups``)."""
    forbidden = set(ALLOWED_GROUP_CODES) | set(await process_renewal_forbidden_groups(chat_id=tg_id, session=session))
    current = await get_tariff_by_id(session, key.tariff_id) if key.tariff_id else None
    group = current.get("group_code") if current else None
    if not group or group in forbidden:
        cluster = await resolve_cluster_name(session, key.server_id or "")
        group = (
            await session.scalar(select(Server.tariff_group).where(Server.cluster_name == cluster).limit(1)) if cluster else None
        )
    candidates = await get_tariffs(session, group_code=group) if group and group not in forbidden else await get_tariffs(session)
    return [t for t in candidates if t.get("is_active") and t.get("group_code") not in forbidden and t.get("duration_days")]


@router.callback_query(F.data.startswith("renew_key|"))
async def process_callback_renew_key(callback_query: CallbackQuery, state: FSMContext, session: AsyncSession) -> None:
    (key_name,) = callback_args(callback_query, 1)
    tg_id = callback_query.from_user.id
    await answer_callback(callback_query)
    back = InlineKeyboardButton(text=buttons.BACK, callback_data=f"view_key|{key_name}")
    key = await get_own_key(session, tg_id, key_name)
    if key is None:
        await edit_or_send_message(callback_query.message, texts.KEY_NOT_FOUND, reply_markup=one_row(back))
        return
    tariffs = await renewal_tariffs(session, tg_id, key)
    builder = InlineKeyboardBuilder()
    for tariff in tariffs[:20]:
        name = tariff.get("name") or f"{tariff.get('duration_days')} дн."
        price = await format_for_user(session, tg_id, float(tariff.get("price_rub") or 0), callback_query.from_user.language_code)
        label = f"{name} — {price}"
        builder.row(InlineKeyboardButton(text=label, callback_data=f"renew_plan|{tariff['id']}|{key_name}"))
    builder = insert_hook_buttons(builder, await process_renew_tariffs(chat_id=tg_id, session=session))
    builder.row(back)
    await state.update_data(renew_key_name=key_name, renew_client_id=key.client_id)
    if not tariffs:
        await edit_or_send_message(callback_query.message, texts.RENEW_NO_TARIFFS, reply_markup=builder.as_markup())
        return
    balance = float(await get_balance(session, tg_id) or 0)
    text = texts.RENEW_CHOOSE.format(key_name=html.escape(key.alias or key_name), balance=format_money(balance))
    await edit_or_send_message(callback_query.message, text, reply_markup=builder.as_markup(), force_text=True)


@router.callback_query(F.data.startswith("renew_plan|"))
async def process_callback_renew_plan(callback_query: CallbackQuery, state: FSMContext, session: AsyncSession) -> None:
    """A renewal tariff: renew from the balance, or remember the renewal and ask for the shortfall."""
    raw_id, key_name = callback_args(callback_query, 2)
    key_name = key_name or (await state.get_data()).get("renew_key_name") or ""
    tg_id = callback_query.from_user.id
    key = await get_own_key(session, tg_id, key_name)
    tariff = next((t for t in await renewal_tariffs(session, tg_id, key) if str(t["id"]) == raw_id), None) if key else None
    if key is None or tariff is None:
        await answer_callback(callback_query, texts.STALE_BUTTON, show_alert=True)
        return
    await answer_callback(callback_query)
    full_price = int(tariff.get("price_rub") or 0)
    price, coupon = await discounted_price(callback_query, session, tg_id, full_price)
    coupon_id = coupon.id if coupon is not None else None
    balance = float(await get_balance(session, tg_id) or 0)
    if balance < price:
        required = ceil(price - balance)
        payload = {
            "tariff_id": tariff["id"],
            "client_id": key.client_id,
            "email": key.email,
            "required_amount": required,
            "selected_price_rub": price,
            "coupon_id": coupon_id,
        }
        template = texts.INSUFFICIENT_FUNDS_RENEWAL_MSG
        await ask_for_shortfall(callback_query, session, state, WAITING_FOR_RENEWAL_PAYMENT, payload, required, template)
        return
    if coupon_id is not None and not await spend_discount(session, coupon_id, tg_id):
        price, coupon_id = full_price, None  # another purchase spent the discount meanwhile
    renewed = await complete_key_renewal(
        session, tg_id, key.client_id, key.email or key_name, renewed_expiry(key, tariff), 0, price, callback_query, tariff["id"]
    )
    if not renewed:
        await give_back_discount(session, coupon_id, tg_id)


def renewed_expiry(key: Key, tariff: dict[str, Any]) -> int:
    """The new expiry: the tariff's days added to the current expiry, or to now once expired."""
    from ..queries import now_ms

    return max(normalize_expiry_ms(key.expiry_time), now_ms()) + int(tariff.get("duration_days") or 0) * DAY_MS


async def complete_key_renewal(
    session: AsyncSession,
    tg_id: int,
    client_id: str,
    email: str,
    new_expiry_time: int,
    total_gb: int,
    cost: float,
    callback_query: CallbackQuery | None,
    tariff_id: int,
    selected_device_limit: int | None = None,
    selected_traffic_limit: int | None = None,
    selected_price_rub: int | None = None,
) -> bool:
    """Charge ``cost``, move the expiry on the panel (refunding when it refuses), store it with
    the tariff and show "renewed" (``renewal_complete`` buttons). ``total_gb`` 0 takes the
    tariff's traffic. True when the key was renewed."""
    tariff = await get_tariff_by_id(session, tariff_id) or {}
    key = await get_key_by_email(session, email)
    if key is None or key.client_id != client_id or key.tg_id != tg_id:
        await _tell(tg_id, callback_query, texts.KEY_NOT_FOUND)
        return False
    if cost:
        try:
            await update_balance(session, tg_id, -cost)  # atomic check-and-charge; commits
        except ValueError:
            await _tell(tg_id, callback_query, texts.RENEW_NOT_ENOUGH_SHORT)
            return False
    devices = selected_device_limit if selected_device_limit is not None else tariff.get("device_limit")
    gb = total_gb or (traffic_bytes(tariff, selected_traffic_limit) or 0) // 1024**3
    try:
        renewed = await renew_key_in_cluster(
            key.server_id or "", email, client_id, new_expiry_time, gb, session, hwid_device_limit=devices or 0, plan=tariff_id
        )
    except (PanelError, ValueError) as e:
        logger.error("[renew] the panel refused to extend %s: %s", email, e)
        renewed = False
    if not renewed:
        if cost:
            await update_balance(session, tg_id, cost)  # the refund
        await _tell(tg_id, callback_query, texts.RENEW_FAILED)
        return False
    key.tariff_id = tariff_id
    if selected_price_rub is not None:
        key.selected_price_rub = selected_price_rub
    await update_key_expiry(session, client_id, new_expiry_time)  # commits the tariff with the expiry
    builder = InlineKeyboardBuilder()
    builder.row(InlineKeyboardButton(text=buttons.VIEW_KEY, callback_data=f"view_key|{email}"))
    results = await process_renewal_complete(chat_id=tg_id, session=session, email=email, client_id=client_id)
    builder = insert_hook_buttons(builder, results)
    text = texts.RENEW_DONE.format(key_name=html.escape(key.alias or email), expiry=format_expiry(new_expiry_time))
    await _tell(tg_id, callback_query, text, builder)
    return True


async def _tell(
    tg_id: int, callback_query: CallbackQuery | None, text: str, builder: InlineKeyboardBuilder | None = None
) -> None:
    markup = builder.as_markup() if builder is not None else None
    if callback_query is not None and callback_query.message is not None:
        await edit_or_send_message(callback_query.message, text, reply_markup=markup, force_text=True)
        return
    from bot import current_bot

    await current_bot().send_message(tg_id, text, reply_markup=markup)
