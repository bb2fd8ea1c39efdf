"""Payments (upstream ``database.payments``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from .models import Payment, utcnow


async def add_payment(
    session: AsyncSession,
    tg_id: int,
    amount: float,
    payment_system: str,
    *,
    status: str = "success",
    currency: str = "RUB",
    payment_id: str | None = None,
    metadata: dict[str, Any] | None = None,
    original_amount: float | Decimal | None = None,
) -> int:
    """Record a payment and return its id. Does not commit: it is usually one step of a
    larger transaction (credit the balance, extend a key) that the caller commits."""
    stmt = (
        insert(Payment)
        .values(
            tg_id=tg_id,
            amount=amount,
            payment_system=payment_system,
            status=status,
            currency=currency,
            payment_id=payment_id,
            metadata_=metadata,
            original_amount=original_amount,
            created_at=utcnow(),
        )
        .returning(Payment.id)
    )
    return int((await session.execute(stmt)).scalar_one())


def _as_dict(payment: Payment) -> dict[str, Any]:
    return payment.to_dict()  # the JSON column appears as "metadata", as upstream's dicts


async def get_last_payments(
    session: AsyncSession, tg_id: int, limit: int = 3, statuses: list[str] | None = None
) -> list[dict[str, Any]]:
    """The user's newest payments first, optionally only those with one of ``statuses``."""
    query = select(Payment).where(Payment.tg_id == tg_id)
    if statuses:
        query = query.where(Payment.status.in_(statuses))
    result = await session.scalars(query.order_by(Payment.created_at.desc(), Payment.id.desc()).limit(limit))
    return [_as_dict(p) for p in result]


async def get_payment_by_id(session: AsyncSession, internal_id: int) -> dict[str, Any] | None:
    payment = await session.get(Payment, internal_id)
    return None if payment is None else _as_dict(payment)


async def get_payment_by_payment_id(session: AsyncSession, pid: str) -> dict[str, Any] | None:
    """By the payment provider's id (indexed)."""
    payment = await session.scalar(select(Payment).where(Payment.payment_id == pid).order_by(Payment.id.desc()).limit(1))
    return None if payment is None else _as_dict(payment)


async def update_payment_status(
    session: AsyncSession,
    internal_id: int,
    new_status: str,
    *,
    payment_id: str | None = None,
    metadata_patch: dict[str, Any] | None = None,
) -> bool:
    """Set the status (and the provider's ``payment_id``, and merge ``metadata_patch`` into the
    metadata, when given); no commit, like :func:`add_payment`. False when there is no such payment."""
    payment = await session.get(Payment, internal_id)
    if payment is None:
        return False
    payment.status = new_status
    if payment_id is not None:
        payment.payment_id = payment_id
    if metadata_patch:
        payment.metadata_ = {**(payment.metadata_ or {}), **metadata_patch}
    await session.flush()
    return True
