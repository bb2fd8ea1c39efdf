"""Users, balance and trial (upstream ``database.users``)."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from logger import logger

from .models import Key, User, utcnow


async def add_user(
    session: AsyncSession,
    tg_id: int,
    username: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
    language_code: str | None = None,
    is_bot: bool = False,
    source_code: str | None = None,
    commit: bool = True,
) -> bool:
    """Insert the user unless they exist; True when a row was inserted (never overwrites)."""
    stmt = (
        insert(User)
        .values(
            tg_id=tg_id,
            username=username,
            first_name=first_name,
            last_name=last_name,
            language_code=language_code,
            is_bot=is_bot,
            source_code=source_code,
        )
        .on_conflict_do_nothing(index_elements=[User.tg_id])
        .returning(User.tg_id)
    )
    inserted = (await session.execute(stmt)).scalar_one_or_none() is not None
    if inserted and commit:
        await session.commit()
    return inserted


async def check_user_exists(session: AsyncSession, tg_id: int) -> bool:
    return await session.scalar(select(select(User.tg_id).where(User.tg_id == tg_id).exists())) or False


async def get_balance(session: AsyncSession, tg_id: int) -> float:
    """The user's balance; 0.0 for an unknown user."""
    balance = await session.scalar(select(User.balance).where(User.tg_id == tg_id))
    return float(balance or 0.0)


async def update_balance(session: AsyncSession, tg_id: int, amount: float) -> float | None:
    """Add ``amount`` (may be negative) to the balance in one statement, and commit.

    The check and the change are one ``UPDATE ... WHERE balance + amount >= 0``, so two
    concurrent debits cannot both pass a stale check. Raises ``ValueError`` (nothing changed)
    when the result would be below zero. Returns the new balance, or None for an unknown user.
    """
    new_balance = func.coalesce(User.balance, 0.0) + amount
    stmt = (
        update(User)
        .where(User.tg_id == tg_id, new_balance >= 0)
        .values(balance=new_balance, updated_at=utcnow())
        .returning(User.balance)
    )
    result = (await session.execute(stmt)).scalar_one_or_none()
    if result is None:
        current = await session.scalar(select(User.balance).where(User.tg_id == tg_id))
        if await check_user_exists(session, tg_id):
            raise ValueError(f"balance of {tg_id} would go below zero: {float(current or 0.0)} + {amount}")
        logger.warning("update_balance: no user %s", tg_id)
        return None
    await session.commit()
    return float(result)


async def set_user_balance(session: AsyncSession, tg_id: int, balance: float) -> None:
    if balance < 0:
        raise ValueError(f"balance must not be negative, got {balance}")
    await session.execute(update(User).where(User.tg_id == tg_id).values(balance=balance, updated_at=utcnow()))
    await session.commit()


async def get_trial(session: AsyncSession, tg_id: int) -> int:
    """0 trial unused, 1 used, -1 extended (upstream's codes); 0 for an unknown user."""
    trial = await session.scalar(select(User.trial).where(User.tg_id == tg_id))
    return int(trial or 0)


async def update_trial(session: AsyncSession, tg_id: int, status: int) -> bool:
    """Set the trial status and commit; False when the user does not exist."""
    statement = update(User).where(User.tg_id == tg_id).values(trial=status, updated_at=utcnow())
    result = cast("CursorResult[Any]", await session.execute(statement))  # an UPDATE's result is a CursorResult
    await session.commit()
    return bool(result.rowcount)


async def get_user_snapshot(session: AsyncSession, tg_id: int) -> tuple[int, int] | None:
    """``(trial status, number of keys)`` in one query; None for an unknown user."""
    key_count = select(func.count(Key.client_id)).where(Key.tg_id == tg_id).scalar_subquery()
    row = (await session.execute(select(func.coalesce(User.trial, 0), key_count).where(User.tg_id == tg_id))).first()
    return None if row is None else (int(row[0]), int(row[1]))
