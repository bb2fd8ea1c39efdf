"""Paying the shortfall of a purchase straight away (upstream's fast payment flow).

When the balance is short, the purchase is remembered (``temporary_data``: ``waiting_for_payment``
or ``waiting_for_renewal_payment`` with what was chosen) so that it completes by itself once a
payment comes in (``payments.pending``). With ``config.USE_NEW_PAYMENT_FLOW`` naming providers,
the user is offered those providers for the exact shortfall instead of the general pay menu.
"""

from __future__ import annotations

import inspect
from typing import Any

from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy.ext.asyncio import AsyncSession

from database import create_temporary_data
from logger import logger
from payments import get_providers

from .. import buttons
from ..texts import FAST_PAY_CHOOSE_PROVIDER, FAST_PAY_NOT_ENOUGH
from ..utils import edit_or_send_message, format_money, setting


async def get_payment_providers_config() -> dict[str, bool]:
    """Provider name → enabled, as the pay menu has them now (``providers_config`` applied)."""
    return {name: bool(cfg.get("enabled")) for name, cfg in (await get_providers(only_enabled=False)).items()}


async def try_fast_payment_flow(
    callback_query: CallbackQuery,
    session: AsyncSession,
    state: FSMContext,
    *,
    tg_id: int,
    temp_key: str,
    temp_payload: dict[str, Any],
    required_amount: int | None = None,
) -> bool:
    """Remember the purchase, then offer the providers of ``config.USE_NEW_PAYMENT_FLOW`` for
    ``required_amount``. True when this showed the payment screen (or ran the only provider's
    fast flow); False when the caller should show its own "not enough money" screen."""
    await create_temporary_data(session, tg_id, temp_key, temp_payload)
    await state.update_data(required_amount=required_amount, temp_key=temp_key, temp_payload=temp_payload)
    wanted = {str(name).lower() for name in setting("USE_NEW_PAYMENT_FLOW", []) or []}
    if not wanted:
        return False
    providers = {name: cfg for name, cfg in (await get_providers()).items() if name.lower() in wanted}
    if not providers:
        return False
    fast = [(name, cfg) for name, cfg in providers.items() if cfg.get("fast")]
    if len(providers) == 1 and len(fast) == 1 and await _run_fast_flow(fast[0][1]["fast"], callback_query, session, state):
        return True
    builder = InlineKeyboardBuilder()
    for name, cfg in providers.items():
        data = f"fast_flow|{cfg['fast']}" if cfg.get("fast") else cfg.get("value")
        if isinstance(data, str) and 0 < len(data.encode()) <= 64:
            builder.row(InlineKeyboardButton(text=str(cfg.get("title") or name), callback_data=data))
    builder.row(InlineKeyboardButton(text=buttons.MAIN_MENU, callback_data="profile"))
    lead = FAST_PAY_NOT_ENOUGH.format(amount=f"{format_money(float(required_amount or 0))} ₽")
    await edit_or_send_message(callback_query.message, f"{lead}\n\n{FAST_PAY_CHOOSE_PROVIDER}", reply_markup=builder.as_markup())
    return True


async def _run_fast_flow(payment_key: str, callback: CallbackQuery, session: AsyncSession, state: FSMContext) -> bool:
    from ..pay import fast_flow_handlers

    handler = (await fast_flow_handlers()).get(payment_key)
    if handler is None:
        return False
    amount = (await state.get_data()).get("required_amount")
    try:
        result = handler(callback, session, state=state, admin=False, amount=amount)
        if inspect.isawaitable(result):
            await result
    except Exception:
        logger.exception("[fast flow] %s failed for %s", payment_key, callback.from_user.id)
        return False
    return True
