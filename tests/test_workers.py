"""Two bot workers behind one port (``solobot run --workers 2``), end to end.

Real parts only: the arbiter and two worker processes (each with its zygote and sandboxed module
processes), one real Redis, one PostgreSQL (the session's embedded server, a fresh database), and
the local Bot API server delivering updates to the workers' webhook. A module (``probe``) answers
with its process id, which the workers' heartbeats map to the worker that served the update.

One test walks the whole story, so the slow part — starting workers — happens as few times as
the story needs: spread, exactly-once notifications, ``modules stop`` reaching both workers,
SIGKILL of the leader in the middle of a conversation, a rolling restart under a stream of
updates, SIGTERM.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from cli.client import ControlClient
from cli.control_address import abstract_socket_name
from local_bot_api import LocalBotAPI, SimulatedUser
from tests.conftest import ModuleFolder, fresh_database
from tests.solobot_harness import traversable_dir

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parent.parent
ADMIN = 1
PROBE = (
    """
import os

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import Message

from hooks.hooks import register_hook

router = Router()


class Form(StatesGroup):
    name = State()


@router.message(Command("who"))
async def who(message: Message):
    await message.answer(f"who {os.getpid()}")


@router.message(Command("form"))
async def ask(message: Message, state: FSMContext):
    await state.set_state(Form.name)
    await state.update_data(asked_by=os.getpid())
    await message.answer(f"name? {os.getpid()}")


@router.message(Form.name, ~F.text.startswith("/"))
async def got(message: Message, state: FSMContext):
    data = await state.get_data()
    await state.clear()
    await message.answer(f"hello {message.text} asked {data['asked_by']} answered {os.getpid()}")


async def periodic_notifications(bot, **kwargs):
    await bot.send_message("""
    + str(ADMIN)
    + """, f"cycle {os.getpid()}")


register_hook("periodic_notifications", periodic_notifications)
"""
)
IDLE = """
from aiogram import Router

router = Router()
"""


@dataclass
class Cluster:
    api: LocalBotAPI
    arbiter: subprocess.Popen[bytes]
    engine: AsyncEngine
    control: str  # the control socket's address
    users: itertools.count[int]

    def user(self) -> SimulatedUser:
        return self.api.user(next(self.users))

    async def workers(self) -> dict[str, dict[str, Any]]:
        """Live workers (heartbeat within 6 s): instance → {module: (state, pid)}."""
        try:
            async with self.engine.connect() as conn:
                rows = (
                    await conn.execute(
                        text(
                            "SELECT w.instance, m.module, m.state, m.pid FROM solobot_workers w LEFT JOIN "
                            "solobot_worker_modules m USING (instance) WHERE w.seen_at > now() - interval '6 seconds'"
                        )
                    )
                ).all()
        except ProgrammingError:  # no table yet: the first worker has not created them
            return {}
        live: dict[str, dict[str, Any]] = {}
        for instance, module, state, pid in rows:
            live.setdefault(instance, {})
            if module is not None:
                live[instance][module] = (state, pid)
        return live

    async def serving(self, count: int = 2) -> dict[str, dict[str, Any]]:
        """Wait until ``count`` workers run ``probe``; their module states."""

        async def ready() -> dict[str, dict[str, Any]] | None:
            live = await self.workers()
            running = {i: m for i, m in live.items() if m.get("probe", ("",))[0] == "running"}
            return running if len(running) == count and len(live) == count else None

        return await poll(ready, timeout=90)

    async def worker_of(self, module_pid: int) -> str:
        """The instance (``host-1/<worker pid>``) whose ``probe`` process has this pid."""

        async def find() -> str | None:
            for instance, modules in (await self.workers()).items():
                if modules.get("probe", (None, None))[1] == module_pid:
                    return instance
            return None

        return await poll(find, timeout=10)

    async def leader(self) -> str:
        async with self.engine.connect() as conn:
            return str(await conn.scalar(text("SELECT holder FROM solobot_worker_leases WHERE expires_at > now()")))

    def operate(self, command: str, module: str) -> dict[str, Any]:
        with ControlClient(self.control) as client:
            return client.call(command, module=module)


async def poll(probe: Callable[[], Awaitable[Any]], timeout: float) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.1)


async def answer(user: SimulatedUser, text: str, prefix: str, timeout: float = 20) -> list[str]:
    """Send ``text``; the words of the bot's first reply starting with ``prefix``."""
    await user.send(text)

    def found(u: SimulatedUser) -> list[str] | None:
        for message in u.chat:
            if message.text and message.text.startswith(prefix) and message.from_bot:
                return message.text.split()
        return None

    return await user.wait_until(found, timeout)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def pid_of(instance: str) -> int:
    return int(instance.rsplit("/", 1)[1])


@pytest.fixture
async def cluster(pg_url: str, redis_url: str) -> AsyncIterator[Cluster]:
    port = free_port()
    with traversable_dir("solobot-workers-") as folder:
        modules = ModuleFolder(folder / "modules")  # reachable by the module processes' own uids
        modules.add("probe", PROBE)
        modules.add("idle", IDLE)
        modules_dir = modules.root
        (folder / "modules.toml").write_text(
            f'[modules.probe]\ndb_read = ["keys"]  # periodic_notifications reads them\nsend_to_chats = [{ADMIN}]\n'
        )
        async with fresh_database(pg_url) as database_url, LocalBotAPI(token="123456:TEST") as api:
            env = {
                **{k: v for k, v in os.environ.items() if k not in ("WORKERS", "DATABASE_URL", "SOLOBOT_CONTROL_SOCKET")},
                "PYTHONPATH": str(ROOT),
                "BOT_TOKEN": api.token,
                "TELEGRAM_API_URL": api.base_url,
                "WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram",
                "WEBHOOK_SECRET": "workers-test-secret",
                "REDIS_URL": redis_url,
                "DATABASE_URL": database_url,
                "MODULES_DIR": str(modules_dir),
                "DATA_DIR": str(folder / "storage"),
                "WEB_HOST": "127.0.0.1",
                "WEB_PORT": str(port),
                "ADMIN_IDS": str(ADMIN),
                "NOTIFICATION_TIME": "1",
                "MODULES_CONFIG": str(folder / "modules.toml"),
            }
            arbiter = subprocess.Popen([sys.executable, "-m", "cli", "run", "--workers", "2"], cwd=folder, env=env)
            engine = create_async_engine(database_url, poolclass=NullPool)
            try:
                yield Cluster(api, arbiter, engine, abstract_socket_name(folder / "storage"), itertools.count(1000))
            finally:
                if arbiter.poll() is None:  # the test failed halfway: its workers must not outlive the database
                    arbiter.terminate()
                    try:
                        await asyncio.to_thread(arbiter.wait, 60)
                    except subprocess.TimeoutExpired:
                        arbiter.kill()  # its workers get SIGTERM from the kernel (parent death signal)
                await asyncio.to_thread(arbiter.wait)
                await engine.dispose()


async def test_two_workers_share_one_bot(cluster: Cluster) -> None:
    await cluster.serving()
    admin = cluster.api.user(ADMIN)
    await answer(admin, "/who", "who")  # the admin is a user of the bot: modules may message them

    # Updates are spread over both workers (webhook deliveries of different chats go concurrently).
    served: set[str] = set()
    for _ in range(10):
        users = [cluster.user() for _ in range(8)]
        replies = await asyncio.gather(*(answer(u, "/who", "who") for u in users))
        served |= {await cluster.worker_of(int(words[1])) for words in replies}
        if len(served) == 2:
            break
    assert len(served) == 2, f"every update went to {served}"

    # The notification cycle runs on one worker (the leader), not on both.
    def cycles() -> list[int]:
        return [int(m.text.split()[1]) for m in admin.chat if m.from_bot and m.text and m.text.startswith("cycle")]

    await admin.wait_until(lambda _u: len(cycles()) >= 3, timeout=20)
    leader = await cluster.leader()
    assert {await cluster.worker_of(pid) for pid in set(cycles())} == {leader}

    # `modules stop` through one worker stops the module on both.
    reply = await asyncio.to_thread(cluster.operate, "stop", "idle")
    assert reply["module"]["state"] == "stopped"

    async def idle_stopped_everywhere() -> bool:
        live = await cluster.workers()
        return len(live) == 2 and all(m.get("idle", ("",))[0] == "stopped" for m in live.values())

    await poll(idle_stopped_everywhere, timeout=20)

    # A conversation started on the leader continues on the other worker once the leader is SIGKILLed;
    # the leader duty moves to the survivor.
    while True:
        talker = cluster.user()
        asked = int((await answer(talker, "/form", "name?"))[1])
        if await cluster.worker_of(asked) == leader:
            break
    survivor = next(i for i in await cluster.workers() if i != leader)
    os.kill(pid_of(leader), signal.SIGKILL)

    async def moved() -> bool:
        return await cluster.leader() == survivor

    await poll(moved, timeout=20)
    words = await answer(talker, "Ann", "hello")  # (seconds after /form: the user's throttling lets it through)
    assert words[1:5] == ["Ann", "asked", str(asked), "answered"]
    assert await cluster.worker_of(int(words[5])) == survivor

    # A rolling restart (SIGHUP) under a stream of updates loses none; the operator's stop holds for the new workers.
    before = await cluster.serving()  # the killed worker's successor is up
    stream: list[SimulatedUser] = []
    streaming = True

    async def send_stream() -> None:
        while streaming:
            user = cluster.user()
            stream.append(user)
            await user.send("/who")
            await asyncio.sleep(0.1)

    sender = asyncio.create_task(send_stream())
    await asyncio.sleep(0.5)
    cluster.arbiter.send_signal(signal.SIGHUP)

    async def rolled() -> dict[str, dict[str, Any]] | None:
        live = await cluster.workers()
        fresh = {i: m for i, m in live.items() if i not in before and m.get("probe", ("",))[0] == "running"}
        return live if len(fresh) == 2 and len(live) == 2 else None

    after = await poll(rolled, timeout=120)
    streaming = False
    await sender
    for user in stream:
        await user.wait_until(lambda u: any(m.from_bot and (m.text or "").startswith("who") for m in u.chat), timeout=30)
    assert len(stream) > 20
    assert all(modules["idle"][0] == "stopped" for modules in after.values())

    cluster.arbiter.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(cluster.arbiter.wait, 90) == 0
    assert await cluster.workers() == {}  # each worker removed its heartbeat rows on its way out
