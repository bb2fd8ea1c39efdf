"""Several bot workers as the operator runs them — ``solobot run --workers N`` — for tests and benchmarks.

The arbiter and its workers are real processes; the local Bot API server (in the caller's process)
delivers updates to their webhook; Redis and PostgreSQL are the caller's. The ``probe`` module
answers with its process id, which the workers' heartbeats map to the worker that served.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from cli.client import ControlClient
from cli.control_address import abstract_socket_name
from local_bot_api import LocalBotAPI, SimulatedUser
from tests.conftest import ModuleFolder, process_alive
from tests.solobot_harness import traversable_dir
from workers.heartbeat import workers_status

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
    print(f"served who {os.getpid()}")  # a line in this worker's log of the module (`solobot modules logs probe`)
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
        """Live (not stale) workers, as ``solobot modules status`` reads them: instance → {module: (state, pid)}."""
        try:
            status = await workers_status(self.engine)
        except ProgrammingError:  # no table yet: the first worker has not created them
            return {}
        return {
            worker["instance"]: {name: (module["state"], module["pid"]) for name, module in worker["modules"].items()}
            for worker in status
            if not worker["stale"]
        }

    async def serving(self, count: int = 2) -> dict[str, dict[str, Any]]:
        """Wait until ``count`` workers run ``probe``; their module states."""

        async def ready() -> dict[str, dict[str, Any]] | None:
            # A worker killed a moment ago still has fresh heartbeats: count running processes only.
            live = {i: m for i, m in (await self.workers()).items() if process_alive(pid_of(i))}
            running = {i: m for i, m in live.items() if m.get("probe", ("",))[0] == "running"}
            return running if len(running) == count and len(live) == count else None

        return await poll(ready, timeout=240)

    async def worker_of(self, module_pid: int) -> str:
        """The instance (``host-1/<worker pid>``) whose ``probe`` process has this pid."""

        async def find() -> str | None:
            for instance, modules in (await self.workers()).items():
                if modules.get("probe", (None, None))[1] == module_pid:
                    return instance
            return None

        return await poll(find, timeout=10)

    async def leader(self) -> str | None:
        """The instance holding the leader lease now (None: nobody, e.g. between a death and the takeover)."""
        async with self.engine.connect() as conn:
            return await conn.scalar(text("SELECT holder FROM solobot_worker_leases WHERE expires_at > now()"))

    def cli(self, *argv: str) -> str:
        """``solobot <argv> --socket <the bot's>`` as the operator runs it; its output."""
        command = [sys.executable, "-m", "cli", *argv, "--socket", "@" + self.control[1:]]
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def operate(self, command: str, module: str | None, **fields: Any) -> dict[str, Any]:
        with ControlClient(self.control) as client:
            return client.call(command, module=module, **fields)

    async def follow_logs(self, module: str, until: Callable[[list[str]], bool], timeout: float = 30) -> list[str]:
        """``solobot modules logs MODULE --follow``'s lines (backlog, then new ones) until ``until`` holds for them."""
        reader, writer = await asyncio.open_unix_connection(self.control, limit=16 * 1024 * 1024)
        try:
            writer.write(json.dumps({"cmd": "logs", "module": module, "lines": 0, "follow": True}).encode() + b"\n")
            reply = json.loads(await reader.readline())
            assert reply.get("ok") and reply.get("unreachable") == [], reply
            lines: list[str] = list(reply["lines"])
            async with asyncio.timeout(timeout):
                while not until(lines):
                    lines.append(json.loads(await reader.readline())["line"])
            return lines
        finally:
            writer.close()


async def poll(probe: Callable[[], Awaitable[Any]], timeout: float, interval: float = 0.1) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


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


@asynccontextmanager
async def running_cluster(
    database_url: str, redis_url: str, workers: int = 2, notification_time: int = 1, *, load: bool = False
) -> AsyncIterator[Cluster]:
    """``solobot run --workers N`` over ``probe`` and ``idle``, the local Bot API delivering to its webhook.

    ``probe`` may make 300 Bot API calls/s: the tests send bursts of users (8 at once, round after round)
    that each get a message, and on a quiet machine those rounds exceed the default 30 calls/s shared by
    the workers — the limiter (``tests/test_shared_state.py`` tests it) would then be what fails.
    ``load``: lift ``probe``'s limits further for a throughput benchmark (the defaults — 32 updates in hand
    per worker — would be what it measures)."""
    port = free_port()
    with traversable_dir("solobot-workers-") as folder:
        modules = ModuleFolder(folder / "modules")  # reachable by the module processes' own uids
        modules.add("probe", PROBE)
        modules.add("idle", IDLE)
        modules_dir = modules.root
        (folder / "modules.toml").write_text(
            f'[modules.probe]\ndb_read = ["keys"]  # periodic_notifications reads them\nsend_to_chats = [{ADMIN}]\n'
            + ("bot_api_rate = 1000\nmax_updates_in_flight = 1000\n" if load else "bot_api_rate = 300\n")
        )
        async with LocalBotAPI(token="123456:TEST") as api:
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
                "NOTIFICATION_TIME": str(notification_time),
                "MODULES_CONFIG": str(folder / "modules.toml"),
            }
            arbiter = subprocess.Popen([sys.executable, "-m", "cli", "run", "--workers", str(workers)], cwd=folder, env=env)
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
