"""Referrals (upstream ``database.referrals``): who invited whom, and what it earned."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, literal, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from .models import Key, Payment, Referral


async def add_referral(session: AsyncSession, referred_tg_id: int, referrer_tg_id: int) -> bool:
    """Record that ``referrer`` invited ``referred``; commits. Self-referral and an existing
    link are ignored (False); both users must exist (foreign keys)."""
    if referred_tg_id == referrer_tg_id:
        return False
    stmt = (
        insert(Referral)
        .values(referred_tg_id=referred_tg_id, referrer_tg_id=referrer_tg_id)
        .on_conflict_do_nothing()
        .returning(Referral.referred_tg_id)
    )
    inserted = (await session.execute(stmt)).scalar_one_or_none() is not None
    await session.commit()
    return inserted


async def get_referral_by_referred_id(session: AsyncSession, referred_tg_id: int) -> dict[str, Any] | None:
    referral = await session.scalar(select(Referral).where(Referral.referred_tg_id == referred_tg_id).limit(1))
    return None if referral is None else referral.to_dict()


async def get_referral_count(session: AsyncSession, referrer_tg_id: int) -> int:
    """Users this one invited directly."""
    count = await session.scalar(select(func.count()).select_from(Referral).where(Referral.referrer_tg_id == referrer_tg_id))
    return int(count or 0)


async def get_user_referral_count(session: AsyncSession, tg_id: int) -> int:
    """Upstream's name (and parameter name) for :func:`get_referral_count`."""
    return await get_referral_count(session, tg_id)


get_total_referrals = get_referral_count


async def get_active_referrals(session: AsyncSession, referrer_tg_id: int) -> int:
    """Direct referrals who have at least one key."""
    has_key = select(Key.client_id).where(Key.tg_id == Referral.referred_tg_id).exists()
    count = await session.scalar(
        select(func.count()).select_from(Referral).where(Referral.referrer_tg_id == referrer_tg_id, has_key)
    )
    return int(count or 0)


async def mark_referral_reward_issued(session: AsyncSession, referred_tg_id: int) -> None:
    await session.execute(update(Referral).where(Referral.referred_tg_id == referred_tg_id).values(reward_issued=True))
    await session.commit()


def _referral_tree(referrer_tg_id: int, max_levels: int):
    """A recursive CTE of (tg_id, level): level 1 = invited by the user, level 2 = by those, ..."""
    tree = (
        select(Referral.referred_tg_id.label("tg_id"), literal(1).label("level"))
        .where(Referral.referrer_tg_id == referrer_tg_id)
        .cte("referral_tree", recursive=True)
    )
    step = (
        select(Referral.referred_tg_id, tree.c.level + 1)
        .join(tree, Referral.referrer_tg_id == tree.c.tg_id)
        .where(tree.c.level < max_levels, Referral.referred_tg_id != referrer_tg_id)  # no cycles back to the root
    )
    return tree.union(step)  # UNION (not ALL) also stops cycles among descendants


async def get_referrals_by_level(session: AsyncSession, referrer_tg_id: int, max_levels: int) -> dict[int, int]:
    """Level → number of users at that level (levels with nobody are left out)."""
    tree = _referral_tree(referrer_tg_id, max_levels)
    rows = await session.execute(select(tree.c.level, func.count(func.distinct(tree.c.tg_id))).group_by(tree.c.level))
    return {int(level): int(count) for level, count in rows}


async def get_total_referral_bonus(session: AsyncSession, referrer_tg_id: int, max_levels: int) -> float:
    """Sum over levels 1..``max_levels`` of successful payments made by users at that level × the
    level's share (``config.REFERRAL_BONUS_PERCENTAGES``, as upstream)."""
    import config

    percentages: Mapping[int, float] = {
        level: share for level, share in config.REFERRAL_BONUS_PERCENTAGES.items() if level <= max_levels
    }
    if not percentages:
        return 0.0
    tree = _referral_tree(referrer_tg_id, max(percentages))
    paid = (
        select(tree.c.level, func.coalesce(func.sum(Payment.amount), 0.0))
        .join(Payment, Payment.tg_id == tree.c.tg_id)
        .where(Payment.status == "success")
        .group_by(tree.c.level)
    )
    return round(sum(float(total) * percentages.get(int(level), 0.0) for level, total in await session.execute(paid)), 2)


async def get_referral_stats(session: AsyncSession, referrer_tg_id: int) -> dict[str, Any]:
    """``total_referrals``, ``active_referrals``, ``referrals_by_level`` and ``total_referral_bonus``
    (levels and shares from ``config.REFERRAL_BONUS_PERCENTAGES``)."""
    import config

    percentages = config.REFERRAL_BONUS_PERCENTAGES
    return {
        "total_referrals": await get_referral_count(session, referrer_tg_id),
        "active_referrals": await get_active_referrals(session, referrer_tg_id),
        "referrals_by_level": await get_referrals_by_level(session, referrer_tg_id, max(percentages, default=1)),
        "total_referral_bonus": await get_total_referral_bonus(session, referrer_tg_id, max(percentages, default=0)),
    }
