"""Coupons as upstream has them: by code from the balance screen, by deep link, days on a key, a
percent off the next purchase or renewal; one activation per user, at most ``usage_limit`` in
all, even when activations race."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from sqlalchemy import select

from database import (
    add_user,
    async_session_maker,
    claim_coupon,
    create_coupon,
    get_balance,
    get_coupon_by_code,
    get_key_by_email,
    get_keys,
    get_pending_discount,
    get_tariffs,
    set_user_balance,
    update_trial,
)
from database.models import CouponUsage, Payment
from handlers.keys.operations import create_key_on_cluster
from panels import get_panel, set_default_panel
from payments import set_provider_enabled
from tests.core_fixtures import callbacks, press, reply_with, running_core, send, shown
from tests.test_purchase_flow import RefusingPanel

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]
DAY_MS = 86_400_000


async def test_money_coupon_by_code_once_per_user(db: str) -> None:
    async with async_session_maker() as session:
        assert await create_coupon(session, "SPRING150", 150, usage_limit=10)
        assert not await create_coupon(session, "SPRING150", 10, usage_limit=1)  # the code is taken
    async with running_core() as core:
        user = core.user(9101, "Anna")
        await send(user, "/start", "Добро пожаловать")
        await send(user, "/profile", "Профиль")
        balance = await press(user, "balance", "На вашем счету")
        assert "activate_coupon" in callbacks(balance)
        await press(user, "activate_coupon", "Введите код купона")
        done = await send(user, "SPRING150", "Купон активирован")
        assert "150 ₽" in shown(done)
        await send(user, "/activate_coupon", "Введите код купона")
        await send(user, "SPRING150", "уже активировали")
        await send(user, "/activate_coupon", "Введите код купона")
        await send(user, "NOPE", "Купон не найден")
    async with async_session_maker() as session:
        assert await get_balance(session, 9101) == 150
        payments = (await session.scalars(select(Payment).where(Payment.tg_id == 9101))).all()
        assert [(p.amount, p.payment_system, p.metadata_) for p in payments] == [(150, "coupon", {"coupon": "SPRING150"})]
        coupon = await get_coupon_by_code(session, "SPRING150")
        assert coupon is not None and coupon.usage_count == 1 and not coupon.is_used


async def test_coupon_deep_link_and_usage_limit(db: str) -> None:
    async with async_session_maker() as session:
        assert await create_coupon(session, "ONE", 50, usage_limit=1)
    async with running_core() as core:
        first = core.user(9201, "First")
        await send(first, "/start coupons_ONE", "Купон активирован")
        late = core.user(9202, "Late")
        await send(late, "/start coupons_ONE", "Лимит активаций купона исчерпан")
    async with async_session_maker() as session:
        assert await get_balance(session, 9201) == 50 and await get_balance(session, 9202) == 0
        coupon = await get_coupon_by_code(session, "ONE")
        assert coupon is not None and coupon.usage_count == 1 and coupon.is_used


async def test_days_coupon_extends_the_chosen_key_on_its_panel(db: str) -> None:
    expiry = int(time.time() * 1000) + 5 * DAY_MS
    client_id = str(uuid.uuid4())
    async with async_session_maker() as session:
        await add_user(session, 9301, first_name="Key owner")
        await create_key_on_cluster("local", 9301, client_id, "owned1", expiry, session=session)
        assert await create_coupon(session, "WEEK", 0, usage_limit=5, days=7)
    async with running_core() as core:
        user = core.user(9301, "Key owner")
        await send(user, "/activate_coupon", "Введите код купона")
        pick = await send(user, "WEEK", "Выберите подписку")
        assert callbacks(pick)[0].startswith(f"extend_key|{client_id}|")
        await user.press(callbacks(pick)[0])
        done = await user.wait_for_reply()
        while "Купон активирован" not in shown(done):
            done = await user.wait_for_reply()
        assert "owned1" in shown(done) and "7 дней" in shown(done)
        # A second press of the same button does not extend again.
        await user.press(callbacks(pick)[0], message_id=pick.message_id)
        again = await user.wait_for_reply()
        while "уже активировали" not in shown(again):
            again = await user.wait_for_reply()
    async with async_session_maker() as session:
        key = await get_key_by_email(session, "owned1")
        assert key is not None and key.expiry_time == expiry + 7 * DAY_MS
    assert get_panel().clients[client_id].expiry_ms == expiry + 7 * DAY_MS


async def test_racing_activations_never_exceed_the_limit(db: str) -> None:
    async with async_session_maker() as session:
        for tg_id in range(9401, 9409):
            await add_user(session, tg_id)
        assert await create_coupon(session, "LAST2", 10, usage_limit=2)
        coupon = await get_coupon_by_code(session, "LAST2")
        assert coupon is not None

    async def claim(tg_id: int) -> bool:
        async with async_session_maker() as session:
            won = await claim_coupon(session, coupon, tg_id)
            await (session.commit() if won else session.rollback())
            return won

    results = await asyncio.gather(*(claim(tg_id) for tg_id in range(9401, 9409)), claim(9401))
    assert sum(results) == 2
    async with async_session_maker() as session:
        fresh = await get_coupon_by_code(session, "LAST2")
        assert fresh is not None and fresh.usage_count == 2 and fresh.is_used


async def test_percent_coupon_discounts_the_next_purchase_and_renewal_once(db: str) -> None:
    async with async_session_maker() as session:
        await add_user(session, 9501, first_name="Buyer")
        await update_trial(session, 9501, 1)
        await set_user_balance(session, 9501, 1000)
        await session.commit()
        assert await create_coupon(session, "SALE20", None, usage_limit=5, percent=20, min_order_amount=100)
        assert await create_coupon(session, "HALF", None, usage_limit=5, percent=50)
        assert await create_coupon(session, "BIG10", None, usage_limit=5, percent=10, min_order_amount=1000)
        standard = next(t["id"] for t in await get_tariffs(session, group_code="standard"))  # 150 ₽
    async with running_core() as core:
        user = core.user(9501, "Buyer")
        await send(user, "/start coupons_SALE20", "скидка <b>20%</b>")
        await send(user, "/start coupons_SALE20", "уже активировали")
        await send(user, "/buy", "Выберите тариф")
        await user.press(f"select_tariff_plan|{standard}")
        shown_price = await reply_with(user, "Скидка по купону")
        assert "120 ₽" in shown(shown_price) and "150 ₽" in shown(shown_price)
        created = await reply_with(user, "Подписка создана")
        email = callbacks(created)[0].split("|", 1)[1]
        async with async_session_maker() as session:
            assert await get_balance(session, 9501) == 880  # charged the discounted price
            assert await get_pending_discount(session, 9501) is None  # spent
        # The discount was one use: the next purchase is at the full price.
        await send(user, "/buy", "Выберите тариф")
        await press(user, f"select_tariff_plan|{standard}", "Подписка создана")
        async with async_session_maker() as session:
            assert await get_balance(session, 9501) == 730
        # By code, then spent on a renewal.
        await send(user, "/activate_coupon", "Введите код купона")
        await send(user, "HALF", "скидка <b>50%</b>")
        await press(user, f"view_key|{email}", f"Подписка {email}")
        await press(user, f"renew_key|{email}", "Продление подписки")
        await user.press(f"renew_plan|{standard}|{email}")
        assert "75 ₽" in shown(await reply_with(user, "Скидка по купону"))
        await reply_with(user, "продлена")
        async with async_session_maker() as session:
            assert await get_balance(session, 9501) == 655
        # Below the coupon's minimum order: the full price, and the discount stays for later.
        await send(user, "/start coupons_BIG10", "от 1000 ₽")
        await send(user, "/buy", "Выберите тариф")
        await press(user, f"select_tariff_plan|{standard}", "Подписка создана")
    async with async_session_maker() as session:
        assert await get_balance(session, 9501) == 505
        pending = await get_pending_discount(session, 9501)
        assert pending is not None and pending.code == "BIG10"
        usages = (await session.scalars(select(CouponUsage).where(CouponUsage.user_id == 9501))).all()
        assert len(usages) == 3
        for code in ("SALE20", "HALF", "BIG10"):
            coupon = await get_coupon_by_code(session, code)
            assert coupon is not None and coupon.usage_count == 1


async def buyer_with_discount(tg_id: int, balance: int, code: str) -> int:
    """A user past the trial with ``balance`` and a 20% coupon ``code`` activated; the standard
    tariff's id (150 ₽)."""
    async with async_session_maker() as session:
        await add_user(session, tg_id, first_name="Buyer")
        await update_trial(session, tg_id, 1)
        await set_user_balance(session, tg_id, balance)
        await session.commit()
        assert await create_coupon(session, code, None, usage_limit=5, percent=20)
        return next(t["id"] for t in await get_tariffs(session, group_code="standard"))


async def test_percent_coupon_discounts_a_purchase_paid_after_the_shortfall(db: str) -> None:
    standard = await buyer_with_discount(9601, 40, "AFTERPAY")
    set_provider_enabled("test", True)
    try:
        async with running_core() as core:
            user = core.user(9601)
            await send(user, "/start coupons_AFTERPAY", "скидка <b>20%</b>")
            await send(user, "/buy", "Выберите тариф")
            await user.press(f"select_tariff_plan|{standard}")
            assert "120 ₽" in shown(await reply_with(user, "Скидка по купону"))
            short = await reply_with(user, "Недостаточно средств")
            assert "Пополните баланс на 80 ₽" in shown(short)
            await press(user, "pay", "Выберите сумму")
            await user.press("pay_amount|test|80")
            await reply_with(user, "Подписка создана")
    finally:
        set_provider_enabled("test", None)
    async with async_session_maker() as session:
        assert await get_balance(session, 9601) == 0  # 40 + 80 paid, 120 charged
        assert len(await get_keys(session, 9601)) == 1
        assert await get_pending_discount(session, 9601) is None


async def test_a_failed_purchase_gives_the_discount_back(db: str) -> None:
    standard = await buyer_with_discount(9701, 150, "KEEPME")
    set_default_panel(RefusingPanel())
    try:
        async with running_core() as core:
            user = core.user(9701)
            await send(user, "/start coupons_KEEPME", "скидка <b>20%</b>")
            await send(user, "/buy", "Выберите тариф")
            await press(user, f"select_tariff_plan|{standard}", "деньги возвращены")
    finally:
        set_default_panel(None)
    async with async_session_maker() as session:
        assert await get_balance(session, 9701) == 150 and await get_keys(session, 9701) == []
        pending = await get_pending_discount(session, 9701)
        assert pending is not None and pending.code == "KEEPME"
