"""Totals for statistics screens (upstream ``database.statistics``): modules registering the
``admin_stats`` hook compute their blocks with these. Money sums count successful payments
only, without the money that was never paid in (referral bonuses, coupons, cashback, admin
credits), as upstream does."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from .models import Key, Payment, Referral, Tariff, User

#: ``payments.payment_system`` values that are not money paid in.
PAYMENT_SYSTEMS_EXCLUDED = ("referral", "coupon", "cashback", "admin")


def _now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


async def _count(session: AsyncSession, model: type, *where: ColumnElement[bool]) -> int:
    return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def count_total_users(session: AsyncSession) -> int:
    return await _count(session, User)


async def count_users_updated_today(session: AsyncSession, today: date) -> int:
    return await _count(session, User, User.updated_at >= today)


async def count_users_registered_since(session: AsyncSession, since: date) -> int:
    return await _count(session, User, User.created_at >= since)


async def count_users_registered_between(session: AsyncSession, start: date, end: date) -> int:
    return await _count(session, User, User.created_at >= start, User.created_at < end)


async def count_total_keys(session: AsyncSession) -> int:
    return await _count(session, Key)


async def count_active_keys(session: AsyncSession) -> int:
    return await _count(session, Key, Key.expiry_time > _now_ms())


def _trial_tariffs() -> ColumnElement[bool]:
    return Key.tariff_id.in_(select(Tariff.id).where(Tariff.group_code == "trial"))


async def count_active_paid_keys(session: AsyncSession) -> int:
    """Active keys not on a trial tariff (a key without a tariff counts as paid, as upstream)."""
    return await _count(session, Key, Key.expiry_time > _now_ms(), ~_trial_tariffs() | Key.tariff_id.is_(None))


async def count_active_trial_keys(session: AsyncSession) -> int:
    return await _count(session, Key, Key.expiry_time > _now_ms(), _trial_tariffs())


async def count_total_referrals(session: AsyncSession) -> int:
    return await _count(session, Referral)


async def _paid_sum(session: AsyncSession, *where: ColumnElement[bool]) -> float:
    paid_in = (Payment.status == "success", Payment.payment_system.not_in(PAYMENT_SYSTEMS_EXCLUDED))
    total = await session.scalar(select(func.coalesce(func.sum(Payment.amount), 0)).where(*paid_in, *where))
    return round(float(total or 0), 2)


async def sum_payments_since(session: AsyncSession, since: date) -> float:
    return await _paid_sum(session, Payment.created_at >= since)


async def sum_payments_between(session: AsyncSession, start: date, end: date) -> float:
    return await _paid_sum(session, Payment.created_at >= start, Payment.created_at < end)


async def sum_total_payments(session: AsyncSession) -> float:
    return await _paid_sum(session)
