"""Prices in the user's currency (upstream's ``handlers.payments.currency_rates``).

Amounts are kept in roubles. With ``config.MULTICURRENCY_ENABLE`` a user whose
``preferred_currency`` is USD (or, without a preference, whose Telegram language is not Russian)
sees dollars at the operator's ``config.RUB_TO_USD`` rate plus ``FX_MARKUP`` percent. There is no
network look-up of exchange rates: without a configured rate, prices stay in roubles.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from database.models import User

_CENT = Decimal("0.01")


def _setting(name: str, default: Any) -> Any:
    import config

    return getattr(config, name, default)


def _usd_rate() -> Decimal | None:
    """Roubles per dollar including the mark-up, or None when not configured."""
    rate = _setting("RUB_TO_USD", None)
    if not rate or float(rate) <= 0:
        return None
    return Decimal(str(rate)) * (1 + Decimal(str(_setting("FX_MARKUP", 0) or 0)) / 100)


async def get_rub_rate(quote: str, *, session: Any = None) -> Decimal:
    """Units of ``quote`` in one rouble (1 for RUB). ``ValueError`` for a currency without a rate."""
    code = quote.upper()
    if code == "RUB":
        return Decimal(1)
    rate = _usd_rate() if code == "USD" else None
    if rate is None:
        raise ValueError(f"no exchange rate for {code}: set config.RUB_TO_USD")
    return Decimal(1) / rate


async def convert_from_rub(amount_rub: Decimal | float, to_ccy: str, *, session: Any = None) -> Decimal:
    return (Decimal(str(amount_rub)) * await get_rub_rate(to_ccy)).quantize(_CENT, rounding=ROUND_HALF_UP)


async def to_rub(amount: Decimal | float, base: str, *, session: Any = None) -> Decimal:
    return (Decimal(str(amount)) / await get_rub_rate(base)).quantize(_CENT, rounding=ROUND_HALF_UP)


def pick_currency(language_code: str | None, user_currency: str | None = None, force_currency: str | None = None) -> str:
    """``RUB`` or ``USD`` for showing a price to this user."""
    if force_currency in {"USD", "RUB"}:
        return force_currency
    if not _setting("MULTICURRENCY_ENABLE", False) or _usd_rate() is None:
        return "RUB"
    if user_currency in {"USD", "RUB"}:
        return user_currency
    return "RUB" if (language_code or "").split("-")[0].lower() == "ru" else "USD"


def fmt_money(amount: Decimal, currency: str, language_code: str | None) -> str:
    """``$12.34`` or ``1 234 ₽``."""
    if currency == "USD":
        text = f"{Decimal(amount).quantize(_CENT, rounding=ROUND_HALF_UP):,.2f}"
        return "$" + (text.replace(",", " ") if (language_code or "").startswith("ru") else text)
    return f"{Decimal(amount).quantize(Decimal(1), rounding=ROUND_HALF_UP):,.0f}".replace(",", " ") + " ₽"


async def display_price(
    amount_rub: Decimal | float,
    language_code: str | None,
    *,
    user_currency: str | None = None,
    force_currency: str | None = None,
    session: Any = None,
) -> tuple[str, str, Decimal]:
    """``(text, currency, value)`` of a rouble amount for this user."""
    currency = pick_currency(language_code, user_currency, force_currency)
    if currency == "RUB":
        value = Decimal(str(amount_rub)).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    else:
        value = await convert_from_rub(amount_rub, currency)
    return fmt_money(value, currency, language_code), currency, value


async def money_for_user(
    db_session: AsyncSession,
    tg_id: int,
    amount_rub: float | int | Decimal,
    language_code: str | None,
    force_currency: str | None = None,
) -> tuple[str, str, Decimal]:
    preferred = await db_session.scalar(select(User.preferred_currency).where(User.tg_id == tg_id))
    return await display_price(amount_rub, language_code, user_currency=preferred, force_currency=force_currency)


async def format_for_user(
    db_session: AsyncSession,
    tg_id: int,
    amount_rub: float | int | Decimal,
    language_code: str | None,
    force_currency: str | None = None,
) -> str:
    """A rouble amount as this user should read it (``150 ₽``, or ``$1.50``)."""
    text, _, _ = await money_for_user(db_session, tg_id, amount_rub, language_code, force_currency)
    return text
