"""Core queries the ``database`` package has no upstream-named DAO for (kept next to their users)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from database.models import Key, Payment, Tariff, User


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


async def get_user(session: AsyncSession, tg_id: int) -> User | None:
    return await session.get(User, tg_id)


async def claim_trial(session: AsyncSession, tg_id: int) -> bool:
    """Mark the trial used (unused or extended before); False when it already was (atomic, so a
    double press gives one trial). Does not commit: the key's creation commits it."""
    unused = or_(User.trial.in_((0, -1)), User.trial.is_(None))  # -1: an operator extended it
    stmt = update(User).where(User.tg_id == tg_id, unused).values(trial=1).returning(User.tg_id)
    return (await session.execute(stmt)).first() is not None


async def get_renewal_tariffs(session: AsyncSession) -> list[Tariff]:
    """Active tariffs a key can be renewed with (trial tariffs are not for sale)."""
    query = (
        select(Tariff)
        .where(Tariff.is_active.is_not(False), or_(Tariff.group_code.is_(None), Tariff.group_code != "trial"))
        .where(Tariff.duration_days > 0, Tariff.price_rub >= 0)
        .order_by(Tariff.sort_order.nulls_last(), Tariff.price_rub, Tariff.id)
    )
    return list(await session.scalars(query))


async def core_stats(session: AsyncSession) -> dict[str, Any]:
    """Totals for the admin statistics screen, in one round trip."""
    now = now_ms()
    paid = Payment.status == "success"
    query = select(
        select(func.count()).select_from(User).scalar_subquery(),
        select(func.count()).select_from(Key).scalar_subquery(),
        select(func.count()).select_from(Key).where(Key.expiry_time > now).scalar_subquery(),
        select(func.count()).select_from(Payment).where(paid).scalar_subquery(),
        select(func.coalesce(func.sum(Payment.amount), 0)).where(paid).scalar_subquery(),
    )
    users, keys, active, payments, total = (await session.execute(query)).one()
    return {"users": users, "keys": keys, "active_keys": active, "payments": payments, "payments_sum": round(float(total), 2)}
