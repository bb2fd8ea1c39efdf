"""Coupons (upstream ``database.coupons``): a code worth money on the balance, days on a key, or
a percent off a purchase; each user activates a coupon once, up to its ``usage_limit``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from logger import logger

from .models import Coupon, CouponUsage, utcnow


async def create_coupon(
    session: AsyncSession,
    code: str,
    amount: int | None,
    usage_limit: int,
    days: int | None = None,
    new_users_only: bool = False,
    percent: int | None = None,
    max_discount_amount: int | None = None,
    min_order_amount: int | None = None,
) -> bool:
    """Create and commit; False when the code exists or ``percent`` is not 1..100 or is combined
    with an amount or days (a coupon is one kind)."""
    if await session.scalar(select(Coupon.id).where(Coupon.code == code)) is not None:
        logger.warning("[coupons] a coupon %r exists already", code)
        return False
    if percent is not None and (not 0 < int(percent) <= 100 or (amount or 0) > 0 or (days or 0) > 0):
        logger.warning("[coupons] %r: a percent coupon takes 1..100 and no amount or days", code)
        return False
    session.add(
        Coupon(
            code=code,
            amount=int(amount or 0),
            usage_limit=usage_limit,
            usage_count=0,
            is_used=False,
            days=days,
            new_users_only=new_users_only,
            percent=percent,
            max_discount_amount=max_discount_amount,
            min_order_amount=min_order_amount,
        )
    )
    await session.commit()
    return True


async def get_coupon_by_code(session: AsyncSession, code: str) -> Coupon | None:
    return await session.scalar(select(Coupon).where(Coupon.code == code))


async def get_all_coupons(session: AsyncSession, page: int = 1, per_page: int = 10) -> dict[str, Any]:
    """One page of coupons, newest first: ``{"coupons", "total", "pages", "current_page"}``."""
    total = int(await session.scalar(select(func.count()).select_from(Coupon)) or 0)
    rows = await session.scalars(select(Coupon).order_by(Coupon.id.desc()).offset((page - 1) * per_page).limit(per_page))
    return {"coupons": [c.to_dict() for c in rows], "total": total, "pages": -(-total // per_page), "current_page": page}


async def delete_coupon(session: AsyncSession, code: str) -> bool:
    """Delete the coupon and its activations; commits. False when there is no such code."""
    coupon = await get_coupon_by_code(session, code)
    if coupon is None:
        return False
    await session.execute(delete(CouponUsage).where(CouponUsage.coupon_id == coupon.id))
    await session.delete(coupon)
    await session.commit()
    return True


async def check_coupon_usage(session: AsyncSession, coupon_id: int, user_id: int) -> bool:
    """Whether ``user_id`` activated the coupon already."""
    usage = select(CouponUsage.user_id).where(CouponUsage.coupon_id == coupon_id, CouponUsage.user_id == user_id)
    return await session.scalar(usage) is not None


async def create_coupon_usage(session: AsyncSession, coupon_id: int, user_id: int) -> None:
    """Record the activation; commits (a repeated one is ignored)."""
    await session.execute(
        insert(CouponUsage).values(coupon_id=coupon_id, user_id=user_id, used_at=utcnow()).on_conflict_do_nothing()
    )
    await session.commit()


async def update_coupon_usage_count(session: AsyncSession, coupon_id: int) -> None:
    """Count one more activation (``is_used`` once the limit is reached); commits."""
    await session.execute(_count_use(coupon_id))
    await session.commit()


def _count_use(coupon_id: int) -> Any:
    return (
        update(Coupon)
        .where(Coupon.id == coupon_id)
        .values(
            usage_count=Coupon.usage_count + 1,
            is_used=case((Coupon.usage_count + 1 >= Coupon.usage_limit, True), else_=False),
        )
    )


async def claim_coupon(session: AsyncSession, coupon: Coupon, user_id: int, pending: bool = False) -> bool:
    """Take one activation of ``coupon`` for ``user_id`` atomically: False when the user used it
    already or the limit is reached (two presses, or two users racing for the last use, cannot
    both win). Does not commit: the caller commits with what the coupon gives, or rolls back on
    False (the usage row of a lost race must not stay). ``pending`` records the activation with
    no ``used_at``: a percent discount waiting for the user's next purchase."""
    recorded = await session.execute(
        insert(CouponUsage)
        .values(coupon_id=coupon.id, user_id=user_id, used_at=None if pending else utcnow())
        .on_conflict_do_nothing()
        .returning(CouponUsage.user_id)
    )
    if recorded.first() is None:
        return False
    counted = await session.execute(_count_use(coupon.id).where(Coupon.usage_count < Coupon.usage_limit).returning(Coupon.id))
    return counted.first() is not None


def apply_percent_coupon(price_rub: int, coupon: Coupon) -> tuple[int, int]:
    """``(price after the discount, discount)`` for a percent coupon; ``(price_rub, 0)`` when the
    coupon is not a percent one or the order is below its ``min_order_amount``. The discount is
    capped by ``max_discount_amount`` and never makes the price negative."""
    if coupon.percent is None or (coupon.min_order_amount is not None and price_rub < int(coupon.min_order_amount)):
        return price_rub, 0
    discount = price_rub * int(coupon.percent) // 100
    if coupon.max_discount_amount is not None:
        discount = min(discount, int(coupon.max_discount_amount))
    discount = max(0, min(discount, price_rub))
    return price_rub - discount, discount


# A percent coupon is activated ahead of the purchase it discounts: its usage row is stored with
# no ``used_at`` (a pending discount) and gets it when a purchase spends the discount.


async def get_pending_discount(session: AsyncSession, user_id: int) -> Coupon | None:
    """The user's activated, not yet spent percent coupon (the earliest activated), or None."""
    return await session.scalar(
        select(Coupon)
        .join(CouponUsage, CouponUsage.coupon_id == Coupon.id)
        .where(CouponUsage.user_id == user_id, CouponUsage.used_at.is_(None), Coupon.percent.is_not(None))
        .order_by(Coupon.id)
        .limit(1)
    )


async def spend_pending_discount(session: AsyncSession, coupon_id: int, user_id: int) -> bool:
    """Mark the pending discount spent, atomically; commits. False when it was spent already (two
    purchases racing for one discount: only one gets it)."""
    spent = await session.execute(
        update(CouponUsage)
        .where(CouponUsage.coupon_id == coupon_id, CouponUsage.user_id == user_id, CouponUsage.used_at.is_(None))
        .values(used_at=utcnow())
        .returning(CouponUsage.user_id)
    )
    await session.commit()
    return spent.first() is not None


async def restore_pending_discount(session: AsyncSession, coupon_id: int, user_id: int) -> None:
    """Give a spent discount back (the purchase it paid for failed and was refunded); commits."""
    await session.execute(
        update(CouponUsage).where(CouponUsage.coupon_id == coupon_id, CouponUsage.user_id == user_id).values(used_at=None)
    )
    await session.commit()
