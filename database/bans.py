"""Banned users and users who blocked the bot (upstream ``database.bans``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from .models import BlockedUser, ManualBan, utcnow


async def is_user_banned(session: AsyncSession, tg_id: int) -> bool:
    """Banned by an admin, and the ban has not run out (``until`` None = for ever)."""
    active = select(ManualBan.tg_id).where(ManualBan.tg_id == tg_id, or_(ManualBan.until.is_(None), ManualBan.until > utcnow()))
    return bool(await session.scalar(select(active.exists())))


async def ban_user(
    session: AsyncSession, tg_id: int, reason: str | None = None, banned_by: int | None = None, until: datetime | None = None
) -> None:
    """Ban (or re-ban with new terms); ``until`` is naive UTC. Commits."""
    values = {"reason": reason, "banned_by": banned_by, "until": until, "banned_at": utcnow()}
    stmt = insert(ManualBan).values(tg_id=tg_id, **values).on_conflict_do_update(index_elements=[ManualBan.tg_id], set_=values)
    await session.execute(stmt)
    await session.commit()


async def unban_user(session: AsyncSession, tg_id: int) -> None:
    await session.execute(delete(ManualBan).where(ManualBan.tg_id == tg_id))
    await session.commit()


async def create_blocked_user(session: AsyncSession, tg_id: int) -> None:
    """Remember that the user blocked the bot (sends to them fail); commits."""
    await session.execute(insert(BlockedUser).values(tg_id=tg_id).on_conflict_do_nothing())
    await session.commit()


async def delete_blocked_user(session: AsyncSession, tg_id: int | list[int]) -> None:
    ids = tg_id if isinstance(tg_id, list) else [tg_id]
    await session.execute(delete(BlockedUser).where(BlockedUser.tg_id.in_(ids)))
    await session.commit()


async def is_user_blocked(session: AsyncSession, tg_id: int) -> bool:
    return bool(await session.scalar(select(select(BlockedUser.tg_id).where(BlockedUser.tg_id == tg_id).exists())))
