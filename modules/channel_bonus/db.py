from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from .models import ChannelBonusClaim


async def has_claim(session: AsyncSession, tg_id: int) -> bool:
    res = await session.execute(select(ChannelBonusClaim).where(ChannelBonusClaim.tg_id == tg_id))
    return res.scalar_one_or_none() is not None


async def set_claim(session: AsyncSession, tg_id: int) -> bool:
    """Record the claim; False when it already existed (two presses racing)."""
    stmt = (
        insert(ChannelBonusClaim)
        .values(tg_id=tg_id)
        .on_conflict_do_nothing(index_elements=[ChannelBonusClaim.tg_id])
        .returning(ChannelBonusClaim.tg_id)
    )
    res = await session.execute(stmt)
    return res.scalar_one_or_none() is not None
