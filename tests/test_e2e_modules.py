"""Every example module of the seed, end to end through the whole bot.

Real aiogram polling the local Bot API server, the Solobot core in the host, each module in its
own process, real PostgreSQL. One bot with all example modules serves the user paths (each
test uses its own Telegram users); the failure tests start their own.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from database import async_session_maker, get_balance, store_key
from database.models import Payment, Referral, User
from runtime.aiogram_bridge import user_texts
from tests.conftest import fresh_database, wait_until
from tests.core_fixtures import callbacks, press, reply_with, send, shown
from tests.shared_zygote import ThreadedZygote
from tests.solobot_harness import ADMIN_ID, Solobot, copy_modules, running_solobot, traversable_dir

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

EXAMPLES = ["hello_world", "top_referrers", "happ_tv", "channel_bonus", "expiry_reminder", "payment_webhook", "quick_pay"]


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def solobot(pg_url: str, anyio_backend: str, shared_zygote: ThreadedZygote) -> AsyncIterator[Solobot]:
    with traversable_dir() as root:
        async with (
            fresh_database(pg_url) as url,
            running_solobot(url, copy_modules(EXAMPLES, root / "modules"), root, zygote=shared_zygote) as bot,
        ):
            states = {s["name"]: s["state"] for s in bot.host.runtime.status()}
            assert states == dict.fromkeys(EXAMPLES, "running"), states
            yield bot


async def press_for_answer(user, button: str) -> dict:
    """Press ``button`` and return the callback answer (the toast or alert) it produced."""
    query_id = await user.press(button)
    return await user.wait_until(lambda u: u.world.callback_queries[query_id].answer)


async def open_profile(user) -> object:
    await send(user, "/start", "Добро пожаловать")
    return await press(user, "profile", "Профиль")


async def test_hello_world_from_start_through_its_button_and_back(solobot: Solobot) -> None:
    user = solobot.user(1001)
    profile = await open_profile(user)
    assert "hello|open" in callbacks(profile)
    # The seed's {"after": "balance"}: below the balance row, above instructions and "back".
    rows = [[data for _, data in row] for row in profile.keyboard]
    row_of = {data: i for i, row in enumerate(rows) for data in row}
    assert row_of["balance"] < row_of["hello|open"] < row_of["instructions"] < row_of["start"]
    hello = await press(user, "hello|open", "Привет из модуля!")
    assert callbacks(hello) == ["profile"]
    back = await press(user, "profile", "Профиль")
    assert "hello|open" in callbacks(back)


async def test_top_referrers_shows_the_table_and_goes_back(solobot: Solobot) -> None:
    user = solobot.user(1002)
    await open_profile(user)
    async with async_session_maker() as session:
        for referred in (2001, 2002, 2003):
            session.add(User(tg_id=referred, username=f"r{referred}"))
        await session.flush()
        session.add_all(Referral(referred_tg_id=r, referrer_tg_id=1002) for r in (2001, 2002, 2003))
        session.add_all(Payment(tg_id=r, amount=150, payment_system="test", status="success") for r in (2001, 2002))
        session.add(Payment(tg_id=2003, amount=50, payment_system="test", status="success"))  # below MIN_TOPUP_RUB
        await session.commit()
    table = await press(user, "🏆 Топ пригласивших", "Топ пригласивших")
    assert "1. <code>1002</code> — 2 рефералов" in shown(table)
    assert "Ваше место: 1 (2 рефералов)" in shown(table)
    assert "profile" in callbacks(table)
    await press(user, "profile", "Профиль")


async def _trial_key(solobot: Solobot, user) -> str:
    await send(user, "/start", "Добро пожаловать")
    created = await press(user, "create_key", "Подписка создана")
    key_name = next(data.split("|", 1)[1] for data in callbacks(created) if data and data.startswith("view_key|"))
    return key_name


async def test_happ_tv_replaces_the_tv_button_runs_its_fsm_and_cancels_back_to_the_key_card(solobot: Solobot) -> None:
    user = solobot.user(1003)
    key_name = await _trial_key(solobot, user)
    card = await press(user, f"view_key|{key_name}", key_name)
    assert f"happ_tv|{key_name}" in callbacks(card)
    assert f"connect_tv|{key_name}" not in callbacks(card)
    assert f"renew_key|{key_name}" in callbacks(card)

    ask = await press(user, f"happ_tv|{key_name}", "Подключение Happ TV")
    assert callbacks(ask) == [f"happ_tv_cancel|{key_name}"]
    bad = await send(user, "not a code", "Код должен состоять")
    assert callbacks(bad) == [f"happ_tv_cancel|{key_name}"]
    done = await send(user, "ab12z", "отправлена на телевизор")
    assert "AB12Z" in shown(done) and callbacks(done) == [f"view_key|{key_name}"]
    # State cleared: plain text is the core's again (its fallback hint), not the module's.
    hint = await send(user, "hello", "")
    assert "Код должен состоять" not in shown(hint)

    await press(user, f"happ_tv|{key_name}", "Подключение Happ TV")
    card_again = await press(user, f"happ_tv_cancel|{key_name}", key_name)
    assert f"happ_tv|{key_name}" in callbacks(card_again)
    after_cancel = await send(user, "ab12z", "")
    assert "отправлена на телевизор" not in shown(after_cancel)


async def test_channel_bonus_checks_membership_credits_once_and_hides_its_button(solobot: Solobot) -> None:
    user = solobot.user(1004)
    profile = await open_profile(user)
    assert "channel_bonus|open" in callbacks(profile)
    await press(user, "channel_bonus|open", "Бонус за подписку")
    solobot.api.world.channels.setdefault("@solobot_news", set())
    answer = await press_for_answer(user, "channel_bonus|check")
    assert "Подписка не найдена" in answer["text"]

    solobot.api.world.channels["@solobot_news"].add(user.id)
    credited = await press(user, "channel_bonus|check", "начислено 50 ₽")
    assert callbacks(credited) == ["profile"]
    async with async_session_maker() as session:
        assert await get_balance(session, user.id) == 50
    profile = await press(user, "profile", "Профиль")
    assert "channel_bonus|open" not in callbacks(profile)


async def test_expiry_reminder_takes_part_in_a_notification_cycle(solobot: Solobot) -> None:
    from handlers.notifications.general_notifications import notify_cycle

    user = solobot.user(1005)
    await send(user, "/start", "Добро пожаловать")
    soon = int((time.time() + 48 * 3600) * 1000)
    async with async_session_maker() as session:
        await store_key(session, user.id, "client-1005", "soon1005", soon, "https://sub.local/x", "local")
        await session.commit()
    await notify_cycle(solobot.host.bot, async_session_maker)
    reminder = await reply_with(user, "soon1005")
    assert "закончится" in shown(reminder) and callbacks(reminder) == ["renew_key|soon1005"]
    await notify_cycle(solobot.host.bot, async_session_maker)  # once per key and date
    await user.wait_until(lambda u: True)
    assert sum("закончится" in (m.text or "") for m in user.chat) == 1


async def test_payment_webhook_credits_the_user_once(solobot: Solobot) -> None:
    user = solobot.user(1006)
    await send(user, "/start", "Добро пожаловать")
    body = json.dumps({"tg_id": user.id, "amount": 250, "payment_id": "pw-1006"}).encode()
    signature = hmac.new(b"change-me", body, hashlib.sha256).hexdigest()
    url = f"{solobot.host.web_url}/api/payment_webhook"
    async with aiohttp.ClientSession() as http:
        async with http.post(url, data=body, headers={"X-Signature": signature}) as response:
            assert response.status == 200 and (await response.json()) == {"ok": True}
        async with http.post(url, data=body, headers={"X-Signature": signature}) as response:
            assert (await response.json()) == {"ok": True, "duplicate": True}
        async with http.post(url, data=body, headers={"X-Signature": "forged"}) as response:
            assert response.status == 403
    await reply_with(user, "Баланс пополнен на 250 ₽")
    async with async_session_maker() as session:
        assert await get_balance(session, user.id) == 250
        payments = (await session.execute(select(Payment).where(Payment.payment_id == "pw-1006"))).scalars().all()
        assert len(payments) == 1


async def test_quick_pay_fast_flow_from_the_pay_menu(solobot: Solobot) -> None:
    user = solobot.user(1007)
    await open_profile(user)
    await press(user, "balance", "")
    menu = await press(user, "pay", "")
    assert "fast_flow|quick_pay" in callbacks(menu)
    amounts = await press(user, "fast_flow|quick_pay", "Быстрая оплата")
    assert "quick_pay|300" in callbacks(amounts)
    await press(user, "quick_pay|300", "")
    await user.wait_until(lambda u: any("300" in (m.text or "") and ("пополн" in (m.text or "").lower()) for m in u.chat))
    async with async_session_maker() as session:
        assert await get_balance(session, user.id) == 300


async def test_the_admin_sees_the_core_admin_panel(solobot: Solobot) -> None:
    admin = solobot.user(ADMIN_ID)
    profile = await open_profile(admin)
    assert any(data and data.startswith("admin") for data in callbacks(profile))


# --- failures: a module dying mid-update, every module down -----------------------------------

SLOW = """
import asyncio
from aiogram import F, Router
from aiogram.types import CallbackQuery, InlineKeyboardButton
from hooks.hooks import register_hook

router = Router()

async def profile_menu(**kwargs):
    return {"after": "balance", "button": InlineKeyboardButton(text="🐢 Медленно", callback_data="slow|go")}

register_hook("profile_menu", profile_menu)

@router.callback_query(F.data == "slow|go")
async def slow(callback: CallbackQuery):
    import os
    marker = open(os.path.join(os.environ["TMPDIR"], "{marker}"), "w"); marker.close()
    await asyncio.sleep(30)
"""


async def test_a_module_killed_mid_update_gets_a_core_answer_then_serves_again(
    pg_url: str, tmp_path: Path, shared_zygote: ThreadedZygote
) -> None:
    with traversable_dir() as root:
        await _killed_mid_update(pg_url, root, shared_zygote)


async def _killed_mid_update(pg_url: str, tmp_path: Path, shared_zygote: ThreadedZygote) -> None:
    modules_dir = copy_modules(["hello_world"], tmp_path / "modules")
    marker = "handling"
    marker_file = tmp_path / "storage" / "tmp" / "slow" / marker  # the module's private TMPDIR
    (modules_dir / "slow").mkdir()
    (modules_dir / "slow" / "__init__.py").write_text("from .router import router\n")
    (modules_dir / "slow" / "router.py").write_text(SLOW.replace("{marker}", marker))
    async with fresh_database(pg_url) as url, running_solobot(url, modules_dir, tmp_path, zygote=shared_zygote) as bot:
        runtime = bot.host.runtime
        user = bot.user(1101)
        await open_profile(user)
        query_id = await user.press("slow|go")
        await wait_until(lambda: marker_file.exists())
        killed = runtime.module_status("slow")["pid"]
        os.kill(killed, signal.SIGKILL)
        answer = await user.wait_until(lambda u: u.world.callback_queries[query_id].answer)
        assert answer["text"] == user_texts.MODULE_UNAVAILABLE
        # "Once the module is back": a new process, serving. Between the old process's exit and the
        # supervisor noticing it, the status still says "running" with no pid: that is not "back".
        await wait_until(
            lambda: (s := runtime.module_status("slow"))["state"] == "running" and s["pid"] not in (None, killed), 20
        )
        marker_file.unlink()
        # The other module never noticed; the restarted one serves again.
        await open_profile(user)
        await press(user, "hello|open", "Привет из модуля!")
        await open_profile(user)
        query_id = await user.press("slow|go")
        try:
            await wait_until(lambda: marker_file.exists())
        except AssertionError:
            answer = user.world.callback_queries[query_id].answer
            raise AssertionError(f"second press not handled: answer={answer} status={runtime.module_status('slow')}") from None
        marker_file.unlink()


async def test_core_menus_keep_working_while_every_module_is_down(pg_url: str, shared_zygote: ThreadedZygote) -> None:
    with traversable_dir() as root:
        await _all_modules_down(pg_url, root, shared_zygote)


async def _all_modules_down(pg_url: str, tmp_path: Path, shared_zygote: ThreadedZygote) -> None:
    modules_dir = copy_modules(["hello_world", "happ_tv", "channel_bonus"], tmp_path / "modules")
    async with fresh_database(pg_url) as url, running_solobot(url, modules_dir, tmp_path, zygote=shared_zygote) as bot:
        runtime = bot.host.runtime
        user = bot.user(1102)
        profile = await open_profile(user)
        assert "hello|open" in callbacks(profile)
        for name in runtime.module_names:
            os.kill(runtime.module_status(name)["pid"], signal.SIGKILL)
        await runtime.stop("hello_world")
        await runtime.stop("happ_tv")
        await runtime.stop("channel_bonus")
        # A button of a module that is down is answered by the core, not left spinning.
        stale = await press_for_answer(user, "hello|open")
        assert stale.get("text")
        profile = await open_profile(user)
        assert "hello|open" not in callbacks(profile) and "balance" in callbacks(profile)
        key_name = await _trial_key(bot, user)
        card = await press(user, f"view_key|{key_name}", key_name)
        assert f"connect_tv|{key_name}" in callbacks(card)  # the core's own button is back
