"""Monotonic versions of signed documents, bumped in the transaction of the change that alters them."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from .db.models import Counter

INDEX = "index"
REVOCATIONS = "revocations"


async def bump(session: AsyncSession, name: str) -> int:
    statement = (
        insert(Counter)
        .values(name=name, value=1)
        .on_conflict_do_update(index_elements=[Counter.name], set_={"value": Counter.value + 1})
        .returning(Counter.value)
    )
    return int((await session.execute(statement)).scalar_one())


async def current(session: AsyncSession, name: str) -> int:
    value = await session.scalar(select(Counter.value).where(Counter.name == name))
    return int(value or 0)
