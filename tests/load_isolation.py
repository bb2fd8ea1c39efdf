"""Steady load beside misbehaving modules: the scenario of ``test_load_isolation`` and its benchmark.

The host side is assembled as ``host.app`` assembles it: the core's outer middlewares (DB session,
user registration, admin flag, ban check, maintenance) over the production connection pool of
``database.db``, the modules router first, then a core router whose handler uses the update's
``session`` and fires a hook (``profile_menu``) whose button operations it applies. aiogram
polls the project's local Bot API server and answers over HTTP; module processes are real,
forked from the zygote.

Modules:

* ``good``: answers ``/good`` with "pong" and adds one valid button to ``profile_menu``;
* ``hang_block``: ``/hang_block`` blocks its event loop (``time.sleep``): heartbeats stop, the
  host kills and restarts it;
* ``hang_async``: ``/hang_async`` awaits forever while its loop still answers heartbeats: each
  update runs into ``update_timeout``;
* ``crasher``: ``/crash`` exits the process mid-update (crash loop, then quarantine);
* ``garbage``: ``profile_menu`` returns thousands of invalid button operations. It runs in every
  phase: what it may cost is one summarised log line per call (``garbage_lines``), and a hook
  fan-out to two modules instead of one is not what the clean/troubled ratio is about.

Load, per phase: ``/good`` and ``/core`` sent at a fixed rate each (open loop: whatever the
answers), latency from the update queued to the bot's reply stored by the server. In a
*troubled* phase the three bad commands are also sent at a fixed rate; in a *clean* phase not.
Phases alternate, clean first, after a warm-up; a phase ends when every update it sent was
answered (or ``drain_timeout`` passed: counted as unanswered).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import statistics
import textwrap
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.filters import Command
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.types import Message
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from database.models import User
from hooks.hook_buttons import insert_hook_buttons
from hooks.hooks import run_hooks
from host.heap import freeze_startup_heap
from local_bot_api import LocalBotAPI, SimulatedUser
from middlewares import setup_middlewares
from runtime import HostServices, ModuleRuntime, RuntimeConfig
from runtime.aiogram_bridge.update_forwarding import modules_router
from runtime.supervision.zygote_client import ForkServer

BAD_COMMANDS = {"hang_block": "/hang_block", "hang_async": "/hang_async", "crasher": "/crash"}
# Updates per second to each bad module in a troubled phase. Before the fix the async-hung one
# alone held 4/s x 4 s update_timeout = 16 updates, each with a pooled connection: more than the
# pool's 15. The restarting ones get fewer: their cost is the restarts.
BAD_RATES = {"hang_block": 1.0, "hang_async": 4.0, "crasher": 1.0}
INIT = '__all__ = ("router",)\nfrom .router import router\n'
MODULES = {
    "good": """
        from aiogram import Router
        from aiogram.filters import Command
        from aiogram.types import InlineKeyboardButton
        from hooks.hooks import register_hook

        router = Router()

        @router.message(Command("good"))
        async def good(message):
            await message.answer("pong")

        @register_hook("profile_menu")
        async def menu(**kwargs):
            return {"button": InlineKeyboardButton(text="good", callback_data="good|open")}
        """,
    "hang_block": """
        import time
        from aiogram import Router
        from aiogram.filters import Command

        router = Router()

        @router.message(Command("hang_block"))
        async def hang(message):
            time.sleep(3600)
        """,
    "hang_async": """
        import asyncio
        from aiogram import Router
        from aiogram.filters import Command

        router = Router()

        @router.message(Command("hang_async"))
        async def hang(message):
            await asyncio.Event().wait()
        """,
    "crasher": """
        import os
        from aiogram import Router
        from aiogram.filters import Command

        router = Router()

        @router.message(Command("crash"))
        async def crash(message):
            os._exit(3)
        """,
    "garbage": """
        from aiogram import Router
        from hooks.hooks import register_hook

        router = Router()

        @register_hook("profile_menu")
        async def menu(**kwargs):
            return [{"after": n, "button": "not a button"} for n in range(2000)]
        """,
}


def write_modules(root: Path) -> Path:
    for name, source in MODULES.items():
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "__init__.py").write_text(INIT)
        (folder / "router.py").write_text(textwrap.dedent(source))
    return root


def core_router() -> Router:
    """The stand-in core: a screen that reads the database and applies hook buttons; a fallback reply."""
    router = Router(name="core")

    @router.message(Command("core"))
    async def core(message: Message, session: AsyncSession) -> None:
        users = await session.scalar(select(func.count()).select_from(User))
        builder = InlineKeyboardBuilder()
        builder.button(text="Профиль", callback_data="profile")
        results = await run_hooks("profile_menu", chat_id=message.chat.id, admin=False)
        keyboard = insert_hook_buttons(builder, results).as_markup()
        await message.answer(f"users: {users}", reply_markup=keyboard)

    @router.message(F.text)
    async def fallback(message: Message) -> None:  # the core answers what no module took
        await message.answer("?")

    return router


@dataclass
class Phase:
    troubled: bool
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"healthy": [], "core": []})
    bad_sent: int = 0

    def p99(self, kind: str) -> float:
        values = sorted(self.latencies[kind])
        return values[min(len(values) - 1, int(len(values) * 0.99))] if values else float("nan")


@dataclass
class LoadReport:
    phases: list[Phase]
    max_in_flight: dict[str, int]
    errors: list[str]  # ERROR log lines outside the modules' own failures (e.g. QueuePool)
    unanswered: int  # updates the bot never replied to
    garbage_lines: list[str]  # log lines naming the garbage module
    core_sent: int  # /core updates sent (each fires profile_menu once)

    def median_p99(self, kind: str, troubled: bool) -> float:
        return statistics.median(p.p99(kind) for p in self.phases if p.troubled is troubled)

    def ratio(self, kind: str) -> float:
        return self.median_p99(kind, True) / self.median_p99(kind, False)

    def rows(self) -> list[dict[str, Any]]:
        return [
            {
                "traffic": kind,
                "clean_p99_ms": self.median_p99(kind, False) * 1e3,
                "troubled_p99_ms": self.median_p99(kind, True) * 1e3,
                "ratio": self.ratio(kind),
                "updates": sum(len(p.latencies[kind]) for p in self.phases),
            }
            for kind in ("healthy", "core")
        ]


class ReplyCounter:
    """Futures resolved when a chat holds its n-th bot message (stamped inside the server's notify)."""

    def __init__(self, api: LocalBotAPI) -> None:
        self.world = api.world
        self._waiting: list[tuple[int, int, asyncio.Future[float]]] = []
        original = self.world.notify

        def notify() -> None:
            original()
            if self._waiting:
                self._check()

        self.world.notify = notify  # type: ignore[method-assign]

    def replies(self, chat_id: int) -> int:
        return len(self.world.activity.get(chat_id, []))

    def expect(self, chat_id: int, count: int) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiting.append((chat_id, count, future))
        self._check()
        return future

    def _check(self) -> None:
        now = time.perf_counter()
        still = []
        for chat_id, count, future in self._waiting:
            if self.replies(chat_id) >= count:
                if not future.done():
                    future.set_result(now)
            elif not future.done():
                still.append((chat_id, count, future))
        self._waiting = still


class _LogLines(logging.Handler):
    """ERROR records other than a module's own failures and state changes (``[module NAME] ...``),
    and every record naming the garbage module."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []
        self.garbage: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "module garbage" in message:
            self.garbage.append(message[:300])
        if record.levelno < logging.ERROR:
            return
        if not message.startswith(("[module ", "[modules] ")) or "QueuePool" in message:
            self.lines.append(f"{record.name}: {message[:300]}")


@asynccontextmanager
async def _stack(modules_dir: Path, state_file: Path, zygote: ForkServer | None, config: RuntimeConfig) -> AsyncIterator[Any]:
    from database import db

    async with LocalBotAPI() as api:
        bot = Bot(api.token, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url)))
        storage = MemoryStorage()
        dp = Dispatcher(storage=storage)
        services = HostServices(bot=bot, fsm_storage=storage)
        try:
            async with ModuleRuntime(
                modules_dir, state_file=state_file, config=config, services=services, zygote=zygote, sandbox=False
            ) as rt:
                setup_middlewares(dp, session_maker=db.async_session_maker, throttle_rate=0)
                dp.include_routers(modules_router(rt), core_router())
                freeze_startup_heap()  # as the host does once it has started
                polling = asyncio.create_task(
                    dp.start_polling(bot, handle_signals=False, close_bot_session=False, polling_timeout=1)
                )
                try:
                    yield api, rt
                finally:
                    await dp.stop_polling()
                    await asyncio.gather(polling, return_exceptions=True)
        finally:
            await bot.session.close()


async def run_load(
    workdir: Path,
    *,
    zygote: ForkServer | None = None,
    rounds: int = 4,
    phase_seconds: float = 7.0,
    warmup_seconds: float = 4.0,
    rate: float = 5.0,  # updates per second of each kind of good traffic (healthy, core)
    bad_rates: dict[str, float] | None = None,  # default BAD_RATES
    config: RuntimeConfig | None = None,
    drain_timeout: float = 60.0,
) -> LoadReport:
    """Run the scenario; ``database.db`` must be bound (the production pool) with the core tables.

    Every sender is open-loop (a fixed rate whatever the answers), so a stall shows up as latency
    instead of as fewer updates sent; the rates leave the host far from saturated when clean.
    """
    config = config or RuntimeConfig(update_timeout=4.0, heartbeat_interval=0.5, heartbeat_timeout=2.0)
    modules_dir = write_modules(workdir / "modules")
    errors = _LogLines()
    logging.getLogger().addHandler(errors)
    try:
        async with _stack(modules_dir, workdir / "state.json", zygote, config) as (api, rt):
            driver = _Driver(api, rt, rate, bad_rates or BAD_RATES, drain_timeout)
            await driver.phase(False, warmup_seconds, None)
            await driver.phase(True, warmup_seconds, None)
            phases = []
            for _ in range(rounds):
                for troubled in (False, True):
                    record = Phase(troubled)
                    await driver.phase(troubled, phase_seconds, record)
                    phases.append(record)
            core_sent = sum(driver.sent.get(user.id, 0) for user in driver.users["core"])
            return LoadReport(
                phases, driver.max_in_flight, list(errors.lines), driver.unanswered(), list(errors.garbage), core_sent
            )
    finally:
        logging.getLogger().removeHandler(errors)


class _Driver:
    def __init__(
        self, api: LocalBotAPI, rt: ModuleRuntime, rate: float, bad_rates: dict[str, float], drain_timeout: float
    ) -> None:
        self.rt = rt
        self.rate = rate
        self.bad_rates = bad_rates
        self.drain_timeout = drain_timeout
        self.counter = ReplyCounter(api)
        ids = itertools.count(10_000)
        self.sent: dict[int, int] = {}  # chat → messages sent (each must get one reply)
        self.users = {kind: [api.user(next(ids)) for _ in range(8)] for kind in ("healthy", "core", *BAD_COMMANDS)}
        self.max_in_flight = dict.fromkeys(BAD_COMMANDS, 0)

    async def _send(self, user: SimulatedUser, text: str) -> tuple[float, asyncio.Future[float]]:
        self.sent[user.id] = self.sent.get(user.id, 0) + 1
        future = self.counter.expect(user.id, self.sent[user.id])
        started = time.perf_counter()
        await user.send(text)
        return started, future

    async def _open_loop(self, kind: str, text: str, rate: float, until: float, out: list[float] | None) -> int:
        """Send ``text`` ``rate`` times a second, from ``kind``'s users in turn; latencies into ``out``."""
        users = self.users[kind]
        waits = []
        count = 0
        next_at = time.perf_counter()
        while next_at < until:
            started, future = await self._send(users[count % len(users)], text)
            waits.append(self._latency(started, future, out))
            count += 1
            next_at += 1 / rate
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
        await asyncio.gather(*waits)
        return count

    async def _latency(self, started: float, future: asyncio.Future[float], out: list[float] | None) -> None:
        try:
            answered = await asyncio.wait_for(future, self.drain_timeout)
        except TimeoutError:
            return  # counted by unanswered()
        if out is not None:
            out.append(answered - started)

    async def _watch_in_flight(self, until: float) -> None:
        while time.perf_counter() < until:
            for name in BAD_COMMANDS:
                self.max_in_flight[name] = max(self.max_in_flight[name], self.rt.updates_in_flight.count(name))
            await asyncio.sleep(0.01)

    async def phase(self, troubled: bool, seconds: float, record: Phase | None) -> None:
        if troubled:
            for name in BAD_COMMANDS:
                await self.rt.start(name)  # un-quarantines the crashers of the previous phase
        until = time.perf_counter() + seconds
        jobs: list[Any] = [
            self._open_loop("healthy", "/good", self.rate, until, record.latencies["healthy"] if record else None),
            self._open_loop("core", "/core", self.rate, until, record.latencies["core"] if record else None),
        ]
        if troubled:
            jobs += [self._open_loop(name, text, self.bad_rates[name], until, None) for name, text in BAD_COMMANDS.items()]
            jobs.append(self._watch_in_flight(until))
        done = await asyncio.gather(*jobs)
        if record is not None:
            record.bad_sent = sum(n for n in done[2:] if isinstance(n, int)) if troubled else 0

    def unanswered(self) -> int:
        return sum(max(0, n - self.counter.replies(chat)) for chat, n in self.sent.items())


def describe(report: LoadReport, fmt: Callable[[float], str] = lambda v: f"{v:.1f}") -> str:
    lines = [
        f"{row['traffic']}: p99 clean {fmt(row['clean_p99_ms'])} ms, troubled {fmt(row['troubled_p99_ms'])} ms, "
        f"ratio {row['ratio']:.2f} ({row['updates']} updates)"
        for row in report.rows()
    ]
    lines.append(f"max in flight: {report.max_in_flight}; unanswered: {report.unanswered}; errors: {report.errors[:5]}")
    return "\n".join(lines)
