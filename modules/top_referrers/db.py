from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from database.models import Payment, Referral


async def top_referrers(session: AsyncSession, since: datetime, min_topup: float) -> list[tuple[int, int]]:
    """(referrer tg_id, number of qualifying referred users), best first."""
    qualified = (
        select(Payment.tg_id)
        .where(Payment.status == "success", Payment.created_at >= since)
        .group_by(Payment.tg_id)
        .having(func.sum(Payment.amount) >= min_topup)
        .subquery()
    )
    count = func.count(Referral.referred_tg_id)
    rows = await session.execute(
        select(Referral.referrer_tg_id, count)
        .join(qualified, qualified.c.tg_id == Referral.referred_tg_id)
        .group_by(Referral.referrer_tg_id)
        .order_by(count.desc(), Referral.referrer_tg_id)
    )
    return [(int(tg_id), int(n)) for tg_id, n in rows.all()]
