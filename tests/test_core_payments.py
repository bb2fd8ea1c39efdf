"""Balance and pay menu: the test provider, payment_success, providers_config, pay_menu_buttons, fast flows."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from aiogram.types import InlineKeyboardButton
from sqlalchemy import select

from database import async_session_maker, get_balance
from database.models import Payment
from payments import set_provider_enabled
from tests.core_fixtures import callbacks, hooked, press, running_core, shown

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


@pytest.fixture
def test_provider() -> Iterator[None]:
    set_provider_enabled("test", True)
    yield
    set_provider_enabled("test", None)


async def test_top_up_credits_balance_and_fires_payment_success(db: str, test_provider: None) -> None:
    events: list[dict] = []

    async def payment_success(**kwargs):
        events.append(kwargs)

    with hooked("payment_success", payment_success):
        async with running_core() as core:
            user = core.user(7001, "Ivan")
            await user.send("/profile")
            await user.wait_for_reply()
            balance = await press(user, "balance", "На вашем счету: <b>0 ₽</b>")
            assert callbacks(balance) == ["pay", "activate_coupon", "profile"]
            amounts = await press(user, "pay", "Выберите сумму")
            assert callbacks(amounts)[:4] == [
                "pay_amount|test|100",
                "pay_amount|test|300",
                "pay_amount|test|500",
                "pay_amount|test|1000",
            ]
            done = await press(user, "pay_amount|test|500", "Оплата получена")
            assert "500 ₽" in shown(done)
            await press(user, "profile", "Профиль")
            assert "Баланс: <b>500 ₽</b>" in shown(user.last_message)

    assert len(events) == 1
    event = events[0]
    assert {k: event[k] for k in ("user_id", "tg_id", "amount", "payment_system", "status", "currency")} == {
        "user_id": 7001,
        "tg_id": 7001,
        "amount": 500.0,
        "payment_system": "test",
        "status": "success",
        "currency": "RUB",
    }
    assert event["original_amount"] == 500.0 and event["session"] is not None
    async with async_session_maker() as session:
        assert await get_balance(session, 7001) == 500
        payments = (await session.scalars(select(Payment).where(Payment.tg_id == 7001))).all()
        assert [(p.amount, p.payment_system, p.status) for p in payments] == [(500.0, "test", "success")]


async def test_handled_payment_success_suppresses_the_default_message(db: str, test_provider: None) -> None:
    async def payment_success(tg_id, **kwargs):
        return {"handled": True}

    with hooked("payment_success", payment_success):
        async with running_core() as core:
            user = core.user(7002, "Olga")
            await user.send("/profile")
            await user.wait_for_reply()
            await press(user, "balance", "На вашем счету")
            amounts = await press(user, "pay", "Выберите сумму")
            await user.press("pay_amount|test|100")
            await user.wait_until(lambda u: len(u.callback_answers) >= 3)
            assert await eventually_balance(7002, 100)
            assert "Оплата получена" not in shown(user.last_message)
            assert user.last_message.message_id == amounts.message_id


async def eventually_balance(tg_id: int, expected: float, timeout: float = 5) -> bool:
    """The handler commits after answering the button: poll until the balance shows."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        async with async_session_maker() as session:
            if await get_balance(session, tg_id) == expected:
                return True
        await asyncio.sleep(0.02)
    return False


async def test_pay_menu_with_module_providers_buttons_and_fast_flows(db: str, test_provider: None, monkeypatch) -> None:
    fast_calls: list[dict] = []

    async def fast_handler(callback, session, **kwargs):
        fast_calls.append(kwargs)
        await callback.answer("fast!")

    import utils.modules_loader

    monkeypatch.setattr(utils.modules_loader, "load_module_fast_flow_handlers", lambda: {"stars_fast": fast_handler})

    def providers_config(providers, flags, **kwargs):
        assert flags == {"TEST_ENABLE": True}
        return {"test": {"title": "🧪 Тест (модуль)"}, "cryptobot": {"value": "pay_cryptobot", "title": "CryptoBot", "order": 5}}

    def pay_menu_buttons(chat_id, admin, session, **kwargs):
        return InlineKeyboardButton(text="🎟 Купон", callback_data="coupon|open")

    with hooked("providers_config", providers_config), hooked("pay_menu_buttons", pay_menu_buttons):
        async with running_core() as core:
            user = core.user(7003, "Petr")
            await user.send("/profile")
            await user.wait_for_reply()
            await press(user, "balance", "На вашем счету")
            menu = await press(user, "pay", "Выберите способ оплаты")
            assert callbacks(menu) == ["pay_provider|test", "pay_cryptobot", "fast_flow|stars_fast", "coupon|open", "balance"]
            assert menu.buttons[0] == "🧪 Тест (модуль)"
            await user.press("fast_flow|stars_fast")
            await user.wait_until(lambda u: any(a["text"] == "fast!" for a in u.callback_answers))
    assert fast_calls and fast_calls[0]["amount"] == 100 and fast_calls[0]["admin"] is False and "state" in fast_calls[0]

    # A module may also delete a core provider: nothing left to pay with.
    with hooked("providers_config", lambda **kw: {"test": None}):
        from payments import get_providers

        assert await get_providers() == {}
