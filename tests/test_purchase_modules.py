"""The purchase flow with modules in their own processes: a module's "buy" buttons on the start
and profile menus open the core's flow, and a module payment provider (``providers_config``)
pays the shortfall — its ``payment_success`` reaches the host, which completes the purchase."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from database import add_user, async_session_maker, get_balance, get_keys, get_tariffs, get_temporary_data, update_trial
from database.models import Payment
from tests.conftest import fresh_database
from tests.core_fixtures import callbacks, press, reply_with, send, shown
from tests.shared_zygote import ThreadedZygote
from tests.solobot_harness import running_solobot, traversable_dir

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]
COMPAT_MODULES = Path(__file__).parent / "compat_modules"
MODULES = ["core_buy_buttons", "core_pay_provider"]
GRANTS = """
[modules.core_pay_provider]
db_read = ["users", "payments", "temporary_data"]
db_write = ["users", "payments"]
call_hooks = ["payment_success"]
"""


async def test_module_buy_button_and_module_provider_complete_a_purchase(
    pg_url: str, monkeypatch: pytest.MonkeyPatch, shared_zygote: ThreadedZygote
) -> None:
    with traversable_dir() as root:
        for name in MODULES:
            shutil.copytree(COMPAT_MODULES / name, root / "modules" / name)
        (root / "modules.toml").write_text(GRANTS)
        monkeypatch.setenv("MODULES_CONFIG", str(root / "modules.toml"))
        async with fresh_database(pg_url) as url, running_solobot(url, root / "modules", root, zygote=shared_zygote) as bot:
            assert {s["name"]: s["state"] for s in bot.host.runtime.status()} == dict.fromkeys(MODULES, "running")
            async with async_session_maker() as session:
                await add_user(session, 8801, first_name="Buyer")
                await update_trial(session, 8801, 1)
                standard = next(t["id"] for t in await get_tariffs(session, group_code="standard"))
            user = bot.user(8801, "Buyer")
            start = await send(user, "/start", "Добро пожаловать")
            assert "buy" in callbacks(start)
            profile = await press(user, "profile", "Профиль")
            assert callbacks(profile)[:3] == ["view_keys", "balance", "buy"]
            await press(user, "buy", "Выберите тариф")
            short = await press(user, f"select_tariff_plan|{standard}", "Недостаточно средств")
            assert "150 ₽" in shown(short)
            menu = await press(user, "pay", "Выберите способ оплаты")
            assert "core_demo_pay" in callbacks(menu)
            await user.press("core_demo_pay")
            created = await reply_with(user, "Подписка создана", timeout=15)
            assert callbacks(created)[0].startswith("view_key|")
            assert not any("Оплачено" in (m.text or "") for m in user.chat)  # the key message replaced it
            async with async_session_maker() as session:
                keys = await get_keys(session, 8801)
                assert [k.tariff_id for k in keys] == [standard]
                assert await get_balance(session, 8801) == 0
                assert await get_temporary_data(session, 8801) is None
                payments = (await session.scalars(select(Payment).where(Payment.tg_id == 8801))).all()
                assert [(p.amount, p.payment_system) for p in payments] == [(150, "core_demo")]
