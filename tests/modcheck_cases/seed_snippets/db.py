# ruff: noqa  (the seed guide's code verbatim: a modcheck fixture)
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from .models import ChannelBonusClaim


async def has_claim(session: AsyncSession, tg_id: int) -> bool:
    res = await session.execute(select(ChannelBonusClaim).where(ChannelBonusClaim.tg_id == tg_id))
    return res.scalar_one_or_none() is not None


async def set_claim(session: AsyncSession, tg_id: int):
    stmt = insert(ChannelBonusClaim).values(tg_id=tg_id).on_conflict_do_nothing(index_elements=[ChannelBonusClaim.tg_id])
    await session.execute(stmt)
    await session.commit()
