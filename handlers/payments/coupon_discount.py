"""A percent coupon's discount on a purchase or renewal: the price is shown and charged with the
user's pending discount (``database.get_pending_discount``) when the order reaches the coupon's
``min_order_amount``; the discount is spent when the charge happens and given back when the
purchase fails."""

from __future__ import annotations

from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from database import apply_percent_coupon, get_pending_discount, restore_pending_discount, spend_pending_discount
from database.models import Coupon

from ..utils import format_money

DISCOUNT_APPLIED = "🎫 Скидка по купону <b>{code}</b> ({percent}%): к оплате <b>{price} ₽</b> вместо <s>{full} ₽</s>."


async def discounted_price(
    callback_query: CallbackQuery, session: AsyncSession, tg_id: int, price_rub: int
) -> tuple[int, Coupon | None]:
    """``(price to charge, the coupon giving the discount)``, the discounted price told to the user
    (a message of its own: the purchase screen is edited); ``(price_rub, None)`` without one."""
    coupon = await get_pending_discount(session, tg_id)
    if coupon is None:
        return price_rub, None
    price, discount = apply_percent_coupon(price_rub, coupon)
    if not discount:
        return price_rub, None
    if isinstance(callback_query.message, Message):
        text = DISCOUNT_APPLIED.format(
            code=coupon.code, percent=coupon.percent, price=format_money(price), full=format_money(price_rub)
        )
        await callback_query.message.answer(text)
    return price, coupon


async def spend_discount(session: AsyncSession, coupon_id: int | None, tg_id: int) -> bool:
    """Spend the discount about to be charged; False when there is none to spend (another
    purchase spent it meanwhile: charge the full price)."""
    return coupon_id is not None and await spend_pending_discount(session, coupon_id, tg_id)


async def give_back_discount(session: AsyncSession, coupon_id: int | None, tg_id: int) -> None:
    """The purchase the discount was spent on failed (and was refunded)."""
    if coupon_id is not None:
        await restore_pending_discount(session, coupon_id, tg_id)
