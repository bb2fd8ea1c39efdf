"""Webhook mode end to end: the local Bot API posts updates to the host's web server.

Real aiogram (``SimpleRequestHandler`` under ``host.telegram_webhook``), the local Bot API over
HTTP delivering to ``WEBHOOK_URL`` with the secret header, the core in the host, a module in its
own process, real PostgreSQL.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiogram.exceptions import TelegramConflictError

from local_bot_api import LocalBotAPI
from tests.conftest import PROJECT_ROOT, fresh_database, wait_until
from tests.core_fixtures import press, send
from tests.shared_zygote import ThreadedZygote
from tests.solobot_harness import Solobot, copy_modules, running_solobot, traversable_dir

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

SECRET = "webhook-test_SECRET-0123456789"
PATH = "/telegram/webhook"
THROTTLE = 0.6  # s: `solobot run` drops a user's updates closer than 0.5 s apart (the host's default throttle)


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


def free_port() -> int:
    """A port for the host's web server: WEBHOOK_URL names it before the server starts."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
async def root() -> AsyncIterator[Path]:
    with traversable_dir() as path:
        copy_modules(["hello_world"], path / "modules")
        yield path


@pytest.fixture(scope="module")
async def api(anyio_backend: str) -> AsyncIterator[LocalBotAPI]:
    async with LocalBotAPI(token="123456:TEST", webhook_retry=(0.05, 0.5)) as server:
        yield server


@pytest.fixture(scope="module")
async def database(pg_url: str, anyio_backend: str) -> AsyncIterator[str]:
    async with fresh_database(pg_url) as url:
        yield url


@pytest.fixture
async def webhook_bot(database: str, root: Path, api: LocalBotAPI, shared_zygote: ThreadedZygote) -> AsyncIterator[Solobot]:
    port = free_port()
    async with running_solobot(
        database,
        root / "modules",
        root,
        zygote=shared_zygote,
        api=api,
        web_port=port,
        webhook_url=f"http://127.0.0.1:{port}{PATH}",
        webhook_secret=SECRET,
    ) as bot:
        yield bot


async def test_updates_reach_the_core_and_a_module_through_the_webhook(webhook_bot: Solobot) -> None:
    api, host = webhook_bot.api, webhook_bot.host
    assert api.world.webhook["url"] == f"{host.web_url}{PATH}" and api.world.webhook["secret_token"] == SECRET
    assert {"message", "callback_query"} <= set(api.world.webhook["allowed_updates"])
    delivered = api.webhook_delivery.delivered
    user = webhook_bot.user(5001)
    await send(user, "/start", "Добро пожаловать")  # a core handler
    await press(user, "profile", "Профиль")
    await press(user, "hello|open", "Привет из модуля!")  # the module's handler, in its process
    # Acknowledged once handled (the answer waits for the handlers, so the reply may be seen first).
    await wait_until(lambda: api.webhook_delivery.delivered - delivered == 3 and not api.world.updates)
    assert host.updates_in_flight is not None and host.updates_in_flight.count == 0


async def test_while_the_webhook_is_set_get_updates_conflicts(webhook_bot: Solobot) -> None:
    assert webhook_bot.host.bot is not None
    with pytest.raises(TelegramConflictError, match="webhook is active"):
        await webhook_bot.host.bot.get_updates()


async def test_a_wrong_or_missing_secret_is_refused_and_logged_once_per_source(
    webhook_bot: Solobot, caplog: pytest.LogCaptureFixture
) -> None:
    user = webhook_bot.user(5002)
    forged = {
        "update_id": 900_001,
        "message": {"message_id": 1, "date": 0, "chat": user.info.private_chat(), "from": user.info.to_dict(), "text": "/start"},
    }
    url = f"{webhook_bot.host.web_url}{PATH}"
    caplog.set_level(logging.WARNING, logger="solobot.webhook")
    async with aiohttp.ClientSession() as session:
        for headers in ({"X-Telegram-Bot-Api-Secret-Token": "not-the-secret"}, {}, {"X-Telegram-Bot-Api-Secret-Token": "x"}):
            async with session.post(url, json=forged, headers=headers) as response:
                assert response.status == 401
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 1 and "127.0.0.1" in refusals[0] and "not-the-secret" not in refusals[0]
    # Nothing was dispatched: the handler would have answered /start before the 401 (the answer waits for it).
    assert [m for m in webhook_bot.api.world.messages[user.id].values() if m.sender.is_bot] == []
    # The right secret through the real delivery is served.
    await send(user, "/start", "Добро пожаловать")
    async with aiohttp.ClientSession() as session, session.get(f"{webhook_bot.host.web_url}/metrics") as response:
        exposition = await response.text()
    assert re.search(r"^solobot_webhook_refused_total ([3-9]|\d\d+)\.0$", exposition, re.MULTILINE), exposition
    assert "solobot_webhook_accepting 1.0" in exposition
    assert re.search(r"^solobot_webhook_updates_in_flight [01]\.0$", exposition, re.MULTILINE)  # the /start may still be


async def test_a_bot_switched_back_to_polling_deletes_the_webhook(
    webhook_bot: Solobot, database: str, root: Path, api: LocalBotAPI, shared_zygote: ThreadedZygote
) -> None:
    await send(webhook_bot.user(5003), "/start", "Добро пожаловать")
    await webhook_bot.host.__aexit__(None, None, None)  # the webhook bot stops (its fixture's exit is then a no-op)
    assert api.world.webhook["url"], "a stopping webhook worker must leave the webhook to the others"
    user = api.user(5003)
    await user.send("/start")  # arrives while nobody serves: kept pending, then polled
    async with running_solobot(database, root / "modules", root, zygote=shared_zygote, api=api):
        await wait_until(lambda: not api.world.webhook.get("url"))
        await wait_until(lambda: welcomes(api, user.id) == 2)
        await send(user, "/start", "Добро пожаловать")
        assert welcomes(api, user.id) == 3 and not api.world.updates


def welcomes(api: LocalBotAPI, tg_id: int) -> int:
    return sum("Добро пожаловать" in (m.text or m.caption or "") for m in api.world.messages[tg_id].values() if m.sender.is_bot)


async def test_solobot_run_serves_in_webhook_mode_and_stops_on_sigterm(
    database: str, root: Path, api: LocalBotAPI, tmp_path: Path
) -> None:
    """The operator's command, as a process: the environment alone switches it to webhook mode."""
    port = free_port()
    env = {
        **os.environ,
        "BOT_TOKEN": api.token,
        "TELEGRAM_API_URL": api.base_url,
        "DATABASE_URL": database,
        "MODULES_DIR": str(root / "modules"),
        "DATA_DIR": str(root / "run-storage"),
        "MODULES_STATE_FILE": str(tmp_path / "state.json"),
        "WEB_PORT": str(port),
        "WEBHOOK_URL": f"http://127.0.0.1:{port}{PATH}",
        "WEBHOOK_SECRET": SECRET,
    }
    log = tmp_path / "run.log"
    with log.open("w") as out:
        command = [sys.executable, "-m", "cli", "run"]
        bot = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            await wait_until(lambda: api.world.webhook.get("url") == env["WEBHOOK_URL"] or bot.poll() is not None, timeout=60)
            assert bot.poll() is None, log.read_text()
            user = api.user(5004)
            await send(user, "/start", "Добро пожаловать", timeout=30)
            await asyncio.sleep(THROTTLE)
            await press(user, "profile", "Профиль", timeout=30)
            await asyncio.sleep(THROTTLE)
            await press(user, "hello|open", "Привет из модуля!", timeout=30)
        finally:
            bot.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(bot.wait, 60)
    assert code == 0, log.read_text()[-3000:]
    assert "Telegram webhook set to" in log.read_text()
    assert api.world.webhook.get("url") == env["WEBHOOK_URL"]  # left for the other workers
