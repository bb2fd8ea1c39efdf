"""Admins stored in the ``admins`` table (``config.ADMIN_ID`` lists the others)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from .models import Admin


async def is_admin(session: AsyncSession, tg_id: int) -> bool:
    """In the ``admins`` table. Callers that also honour ``config.ADMIN_ID`` check it first (no query)."""
    return bool(await session.scalar(select(select(Admin.tg_id).where(Admin.tg_id == tg_id).exists())))


async def add_admin(session: AsyncSession, tg_id: int, role: str = "admin", description: str | None = None) -> bool:
    """Insert unless present; True when added. Commits."""
    stmt = (
        insert(Admin)
        .values(tg_id=tg_id, role=role, description=description)
        .on_conflict_do_nothing(index_elements=[Admin.tg_id])
        .returning(Admin.tg_id)
    )
    added = (await session.execute(stmt)).scalar_one_or_none() is not None
    await session.commit()
    return added


async def get_admin_role(session: AsyncSession, tg_id: int) -> str | None:
    """The ``admins.role`` of ``tg_id``; None when not an admin (one indexed look-up)."""
    return await session.scalar(select(Admin.role).where(Admin.tg_id == tg_id))


async def get_admin_ids(session: AsyncSession) -> list[int]:
    return list(await session.scalars(select(Admin.tg_id).order_by(Admin.tg_id)))
