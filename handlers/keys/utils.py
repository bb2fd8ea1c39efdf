"""Buttons shared by the purchase and renewal tariff lists."""

from __future__ import annotations

from typing import Any

from aiogram.types import InlineKeyboardButton
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy.ext.asyncio import AsyncSession

from ..payments.currency_rates import format_for_user


async def add_tariff_button_generic(
    builder: InlineKeyboardBuilder,
    tariff: dict[str, Any],
    session: AsyncSession,
    tg_id: int,
    language_code: str | None,
    callback_prefix: str,
) -> None:
    """A row ``<name> — <price in the user's currency>`` → ``<callback_prefix>|<tariff id>``."""
    price = await format_for_user(session, tg_id, float(tariff.get("price_rub") or 0), language_code)
    name = tariff.get("name") or f"{tariff.get('duration_days')} дн."
    builder.row(InlineKeyboardButton(text=f"{name} — {price}", callback_data=f"{callback_prefix}|{tariff['id']}"))
