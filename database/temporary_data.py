"""Per-user scratch state that survives restarts (upstream ``database.temporary_data``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from .models import TemporaryData, utcnow


async def create_temporary_data(session: AsyncSession, tg_id: int, state: str, data: dict[str, Any]) -> None:
    """Set (insert or replace) the user's state and data; commits."""
    now = utcnow()
    stmt = (
        insert(TemporaryData)
        .values(tg_id=tg_id, state=state, data=data, updated_at=now)
        .on_conflict_do_update(index_elements=[TemporaryData.tg_id], set_={"state": state, "data": data, "updated_at": now})
    )
    await session.execute(stmt)
    await session.commit()


async def get_temporary_data(session: AsyncSession, tg_id: int) -> dict[str, Any] | None:
    """``{"state": ..., "data": ...}`` or None."""
    row = (await session.execute(select(TemporaryData.state, TemporaryData.data).where(TemporaryData.tg_id == tg_id))).first()
    return None if row is None else {"state": row.state, "data": row.data}


async def clear_temporary_data(session: AsyncSession, tg_id: int) -> None:
    await session.execute(delete(TemporaryData).where(TemporaryData.tg_id == tg_id))
    await session.commit()
