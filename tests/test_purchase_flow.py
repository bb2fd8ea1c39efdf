"""Upstream's purchase flow end to end through the local Bot API: ``buy`` / ``create_key`` /
``/buy`` → tariff list (groups, subgroups, module buttons) → payment from the balance, or the
shortfall paid first (core provider here; a module provider in ``test_purchase_modules.py``) →
the key created on the panel and shown; renewal through the same flow; refunds on failure."""

from __future__ import annotations

import asyncio

import pytest
from aiogram.types import InlineKeyboardButton
from sqlalchemy import select

from database import (
    add_user,
    async_session_maker,
    create_subgroup_hash,
    create_tariff,
    get_balance,
    get_key_by_email,
    get_keys,
    get_temporary_data,
    set_user_balance,
    update_trial,
)
from database.models import Payment
from panels import ClientSpec, LocalPanel, PanelError, get_panel, set_default_panel
from payments import set_provider_enabled
from tests.core_fixtures import callbacks, hooked, press, reply_with, running_core, send, shown

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]
DAY_MS = 86_400_000


async def user_without_trial(tg_id: int, balance: float = 0) -> None:
    async with async_session_maker() as session:
        await add_user(session, tg_id, first_name="Buyer")
        await update_trial(session, tg_id, 1)
        if balance:
            await set_user_balance(session, tg_id, balance)
            await session.commit()


async def standard_tariff_id() -> int:
    """The seeded tariff of the seeded cluster's group ("standard", 150 ₽, 30 days)."""
    from database import get_tariffs

    async with async_session_maker() as session:
        return next(t["id"] for t in await get_tariffs(session, group_code="standard"))


async def test_buy_from_the_balance_with_groups_subgroups_and_hooks(db: str) -> None:
    async with async_session_maker() as session:
        family = await create_tariff(
            session,
            {
                "name": "Семья, 30 дней",
                "group_code": "standard",
                "duration_days": 30,
                "price_rub": 300,
                "subgroup_title": "Семья",
            },
        )
        await create_tariff(session, {"name": "Чужая группа", "group_code": "other", "duration_days": 30, "price_rub": 10})
    await user_without_trial(7101, balance=400)
    standard = await standard_tariff_id()
    seen: dict[str, dict] = {}

    def recorder(name: str, result: object = None):
        def hook(**kwargs):
            seen[name] = kwargs
            return result

        return hook

    tariff_button = InlineKeyboardButton(text="🎁 Акция", callback_data="promo|open")
    created_button = InlineKeyboardButton(text="📲 Инструкция", callback_data="howto|open")
    with (
        hooked("purchase_tariff_group_override", recorder("purchase_tariff_group_override")),
        hooked("tariff_menu", recorder("tariff_menu", tariff_button)),
        hooked("check_discount_validity", recorder("check_discount_validity")),
        hooked("key_creation_complete", recorder("key_creation_complete", created_button)),
    ):
        async with running_core() as core:
            user = core.user(7101, "Buyer")
            menu = await send(user, "/buy", "Выберите тариф")
            subgroup = f"tariff_subgroup_user|{create_subgroup_hash('Семья', 'standard')}"
            assert callbacks(menu) == [f"select_tariff_plan|{standard}", subgroup, "promo|open", "profile"]
            assert "1 месяц — 150 ₽" in [text for row in menu.keyboard for text, _ in row]
            inside = await press(user, subgroup, "Семья")
            assert callbacks(inside) == [f"select_tariff_plan|{family['id']}", "back_to_tariff_group_list", "profile"]
            await press(user, "back_to_tariff_group_list", "Выберите тариф")
            done = await press(user, f"select_tariff_plan|{standard}", "Подписка создана")
            email = callbacks(done)[0].split("|", 1)[1]
            assert callbacks(done) == [f"view_key|{email}", "howto|open", "profile"]

    assert seen["purchase_tariff_group_override"]["original_group"] == "standard"
    assert {k: seen["tariff_menu"][k] for k in ("group_code", "cluster_name", "tg_id")} == {
        "group_code": "standard",
        "cluster_name": "local",
        "tg_id": 7101,
    }
    assert seen["check_discount_validity"]["tariff_group"] == "standard"
    assert seen["key_creation_complete"]["email"] == email
    async with async_session_maker() as session:
        key = await get_key_by_email(session, email)
        assert key is not None and key.tariff_id == standard and key.server_id == "local"
        assert key.selected_price_rub == 150
        assert await get_balance(session, 7101) == 250
    assert key.client_id in get_panel().clients


async def test_a_module_can_move_the_purchase_to_another_group_or_refuse_it(db: str) -> None:
    async with async_session_maker() as session:
        vip = await create_tariff(session, {"name": "VIP", "group_code": "vip", "duration_days": 7, "price_rub": 99})
    await user_without_trial(7201, balance=500)

    def to_vip(chat_id, original_group, **kwargs):
        return {"override_group": "vip"} if chat_id == 7201 else None

    def refuse(tariff_group, **kwargs):
        return {"valid": False, "message": "⛔ Акция закончилась"}

    with hooked("purchase_tariff_group_override", to_vip):
        async with running_core() as core:
            user = core.user(7201)
            menu = await send(user, "/buy", "Выберите тариф")
            assert callbacks(menu) == [f"select_tariff_plan|{vip['id']}", "profile"]
            with hooked("check_discount_validity", refuse):
                await press(user, f"select_tariff_plan|{vip['id']}", "Акция закончилась")
    async with async_session_maker() as session:
        assert await get_keys(session, 7201) == [] and await get_balance(session, 7201) == 500


async def test_shortfall_is_paid_then_the_key_is_created_by_itself(db: str) -> None:
    await user_without_trial(7301, balance=40)
    standard = await standard_tariff_id()
    paid: list[dict] = []

    def payment_success(**kwargs):
        paid.append(kwargs)

    set_provider_enabled("test", True)
    try:
        with hooked("payment_success", payment_success):
            async with running_core() as core:
                user = core.user(7301)
                await send(user, "/buy", "Выберите тариф")
                short = await press(user, f"select_tariff_plan|{standard}", "Недостаточно средств")
                assert "Пополните баланс на 110 ₽" in shown(short) and callbacks(short) == ["pay", "profile"]
                async with async_session_maker() as session:
                    waiting = await get_temporary_data(session, 7301)
                assert waiting is not None and waiting["state"] == "waiting_for_payment"
                assert waiting["data"]["tariff_id"] == standard and waiting["data"]["required_amount"] == 110
                amounts = await press(user, "pay", "Выберите сумму")  # one provider: its amounts at once
                assert callbacks(amounts)[0] == "pay_amount|test|110"  # exactly the shortfall first
                await user.press("pay_amount|test|110")
                created = await reply_with(user, "Подписка создана")
                assert callbacks(created)[0].startswith("view_key|")
    finally:
        set_provider_enabled("test", None)
    assert [(p["tg_id"], p["amount"], p["payment_system"]) for p in paid] == [(7301, 110.0, "test")]
    async with async_session_maker() as session:
        assert await get_balance(session, 7301) == 0
        assert await get_temporary_data(session, 7301) is None
        keys = await get_keys(session, 7301)
        assert [k.tariff_id for k in keys] == [standard]
        payments = (await session.scalars(select(Payment).where(Payment.tg_id == 7301))).all()
        assert [(p.amount, p.payment_system) for p in payments] == [(110, "test")]


async def test_renewal_waits_for_money_the_same_way(db: str) -> None:
    await user_without_trial(7401, balance=150)
    standard = await standard_tariff_id()
    set_provider_enabled("test", True)
    renewed_hook: list[dict] = []

    def renewal_complete(**kwargs):
        renewed_hook.append(kwargs)
        return InlineKeyboardButton(text="⭐ Оценить", callback_data="rate|open")

    try:
        with hooked("renewal_complete", renewal_complete):
            async with running_core() as core:
                user = core.user(7401)
                await send(user, "/buy", "Выберите тариф")
                created = await press(user, f"select_tariff_plan|{standard}", "Подписка создана")
                email = callbacks(created)[0].split("|", 1)[1]
                async with async_session_maker() as session:
                    before = (await get_key_by_email(session, email)).expiry_time
                await press(user, f"view_key|{email}", f"Подписка {email}")
                choose = await press(user, f"renew_key|{email}", "Продление подписки")
                assert f"renew_plan|{standard}|{email}" in callbacks(choose)
                await press(user, f"renew_plan|{standard}|{email}", "Недостаточно средств для продления")
                await press(user, "pay", "Выберите сумму")
                await user.press("pay_amount|test|150")
                done = await reply_with(user, "продлена")
                assert callbacks(done) == [f"view_key|{email}", "rate|open"]
    finally:
        set_provider_enabled("test", None)
    assert renewed_hook[0]["email"] == email
    async with async_session_maker() as session:
        key = await get_key_by_email(session, email)
        assert key.expiry_time == before + 30 * DAY_MS
        assert await get_balance(session, 7401) == 0
    assert get_panel().clients[key.client_id].expiry_ms == before + 30 * DAY_MS


class RefusingPanel(LocalPanel):
    async def create_client(self, spec: ClientSpec) -> str:
        raise PanelError("panel is down")


async def test_money_comes_back_when_the_panel_refuses(db: str) -> None:
    await user_without_trial(7501, balance=150)
    standard = await standard_tariff_id()
    set_default_panel(RefusingPanel())
    try:
        async with running_core() as core:
            user = core.user(7501)
            await send(user, "/buy", "Выберите тариф")
            await press(user, f"select_tariff_plan|{standard}", "деньги возвращены")
    finally:
        set_default_panel(None)
    async with async_session_maker() as session:
        assert await get_balance(session, 7501) == 150 and await get_keys(session, 7501) == []


async def test_create_key_gives_the_trial_first_then_sells(db: str) -> None:
    async with running_core() as core:
        user = core.user(7601, "Newcomer")
        await send(user, "/start", "Добро пожаловать")
        await press(user, "create_key", "Подписка создана")
        await send(user, "/profile", "Профиль")
        listing = await press(user, "view_keys", "Мои подписки")
        assert "buy" in callbacks(listing)
        await press(user, "buy", "Выберите тариф")
    async with async_session_maker() as session:
        keys = await get_keys(session, 7601)
        assert len(keys) == 1 and await get_balance(session, 7601) == 0


class SlowPanel(LocalPanel):
    """Slower than a hook's time limit (4 s): the completion must not be cut in half by it."""

    async def create_client(self, spec: ClientSpec) -> str:
        await asyncio.sleep(4.5)
        return await super().create_client(spec)


@pytest.mark.timeout(90)
async def test_a_purchase_completed_after_payment_survives_the_hook_time_limit(db: str) -> None:
    await user_without_trial(7701)
    standard = await standard_tariff_id()
    panel = SlowPanel()
    set_provider_enabled("test", True)
    set_default_panel(panel)
    try:
        async with running_core() as core:
            user = core.user(7701)
            await send(user, "/buy", "Выберите тариф")
            await press(user, f"select_tariff_plan|{standard}", "Недостаточно средств")
            await press(user, "pay", "Выберите сумму")
            await user.press("pay_amount|test|150")
            await reply_with(user, "Подписка создана", timeout=20)
    finally:
        set_provider_enabled("test", None)
        set_default_panel(None)
    async with async_session_maker() as session:
        keys = await get_keys(session, 7701)
        assert [k.tariff_id for k in keys] == [standard] and keys[0].client_id in panel.clients
        assert await get_balance(session, 7701) == 0
