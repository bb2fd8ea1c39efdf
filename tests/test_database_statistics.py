"""Upstream's ``database.statistics`` on the real database: counts and paid-in sums."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from database import (
    add_payment,
    add_user,
    async_session_maker,
    count_active_keys,
    count_active_paid_keys,
    count_active_trial_keys,
    count_total_keys,
    count_total_users,
    count_users_registered_since,
    create_tariff,
    store_key,
    sum_payments_between,
    sum_payments_since,
    sum_total_payments,
)

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


async def test_counts_and_paid_in_sums(db: str) -> None:
    now_ms = int(time.time() * 1000)
    async with async_session_maker() as session:
        trial = await create_tariff(session, {"name": "Пробная", "group_code": "trial", "duration_days": 3, "price_rub": 0})
        for tg_id in (1, 2, 3):
            await add_user(session, tg_id)
        await store_key(session, 1, "c1", "k1", now_ms + 86_400_000, "link", "local", tariff_id=trial["id"])
        await store_key(session, 2, "c2", "k2", now_ms + 86_400_000, "link", "local")  # paid (no trial tariff)
        await store_key(session, 3, "c3", "k3", now_ms - 86_400_000, "link", "local")  # expired
        await add_payment(session, 1, 100, "test")
        await add_payment(session, 2, 50, "coupon")  # not money paid in
        await add_payment(session, 3, 70, "test", status="pending")
        await session.commit()

        assert await count_total_users(session) == 3
        yesterday = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=1)
        assert await count_users_registered_since(session, yesterday) == 3
        assert await count_total_keys(session) == 3
        assert await count_active_keys(session) == 2
        assert await count_active_trial_keys(session) == 1
        assert await count_active_paid_keys(session) == 1
        assert await sum_total_payments(session) == 100
        assert await sum_payments_since(session, yesterday) == 100
        assert await sum_payments_between(session, yesterday - timedelta(days=5), yesterday) == 0
