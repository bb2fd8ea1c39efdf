"""Host-side building blocks of the benchmarks that run updates and hooks through the whole stack.

* ``write_module`` / ``TYPICAL_ROUTER``: modules whose routers look like real ones (exact and
  prefix callback data, a command, an FSM state), laid out as the seed lays out a module;
* ``open_stack``: the host side as ``tests/test_module_bridge.py`` assembles it: a ``LocalBotAPI``
  (local fake Telegram over real HTTP), a real aiogram ``Bot`` pointed at it, a ``Dispatcher``
  with ``runtime.aiogram_bridge.update_forwarding.modules_router(rt)`` first and then a core router, and a
  ``ModuleRuntime`` with ``HostServices`` (bot, FSM storage, optionally a database URL);
* ``AnswerWatcher``: stamps the moment the local server records the bot's answer to a callback
  query (it hooks the world's change notification, ``World.notify``);
* ``IpcMeter``: counts the host's IPC messages (by kind and method) and bytes (frames as written
  and read, 4-byte headers included) per module channel;
* ``embedded_database``: a throw-away database on an embedded PostgreSQL, ``database.db`` bound.
"""

from __future__ import annotations

import asyncio
import textwrap
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiogram import Bot, Dispatcher, Router
from aiogram.client.telegram import TelegramAPIServer
from aiogram.fsm.storage.memory import MemoryStorage

from ipc import peer as ipc_peer
from ipc.messages import Cancel, Error, Notify, Request, Response
from local_bot_api import LocalBotAPI
from runtime import HostServices, ModuleRuntime, RuntimeConfig
from runtime.aiogram_bridge.response_types import ResponseTypesKept

# ------------------------------------------------------------------------------ modules

INIT_PY = '__all__ = ("router",)\nfrom .router import router\n'

# A module router with the kinds of filters real modules use. ``NAME`` is replaced by the
# module's name. Only ``NAME|ping`` is ever pressed by the benchmarks.
TYPICAL_ROUTER = """\
from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message

router = Router()


class Form(StatesGroup):
    waiting_text = State()
    waiting_confirm = State()


@router.callback_query(F.data == "NAME|ping")
async def ping(callback: CallbackQuery) -> None:
    await callback.answer("pong")


@router.callback_query(F.data == "NAME|open")
async def open_menu(callback: CallbackQuery, state: FSMContext) -> None:
    await state.set_state(Form.waiting_text)
    await callback.answer()


@router.callback_query(F.data.startswith("NAME|page|"))
async def page(callback: CallbackQuery) -> None:
    await callback.answer(callback.data)


@router.callback_query(F.data.in_({"NAME|yes", "NAME|no"}))
async def confirm(callback: CallbackQuery, state: FSMContext) -> None:
    await state.clear()
    await callback.answer()


@router.message(Command("NAME"))
async def command(message: Message) -> None:
    await message.answer("NAME")


@router.message(Form.waiting_text)
async def got_text(message: Message, state: FSMContext) -> None:
    await state.set_state(Form.waiting_confirm)
    await message.answer("confirm?")
"""


def write_module(root: Path, name: str, router_source: str, **files: str) -> Path:
    """One module folder ``root/name`` (``__init__.py``, ``router.py``, ``VERSION`` and ``files``)."""
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "__init__.py").write_text(INIT_PY, encoding="utf-8")
    (folder / "router.py").write_text(textwrap.dedent(router_source).replace("NAME", name), encoding="utf-8")
    for filename, source in files.items():
        (folder / filename).write_text(textwrap.dedent(source).replace("NAME", name), encoding="utf-8")
    (folder / "VERSION").write_text("1.0.0\n", encoding="utf-8")
    return folder


def write_typical_modules(root: Path, count: int) -> list[str]:
    """``count`` modules ``m000``, ``m001``, … with ``TYPICAL_ROUTER``; their names in load order."""
    root.mkdir(parents=True, exist_ok=True)
    names = [f"m{i:03d}" for i in range(count)]
    for name in names:
        write_module(root, name, TYPICAL_ROUTER)
    return names


# ------------------------------------------------------------------------------- stack


@dataclass
class Stack:
    api: LocalBotAPI
    bot: Bot
    dp: Dispatcher
    storage: MemoryStorage
    runtime: ModuleRuntime | None
    polling: asyncio.Task[None] | None = None
    startup_seconds: float = 0.0


@asynccontextmanager
async def open_stack(
    modules_dir: Path | None,
    state_file: Path | None,
    *,
    core: Router | None = None,
    config: RuntimeConfig | None = None,
    database_url: str | None = None,
    polling: bool = True,
    polling_timeout: int = 1,
    bot_api_rate: float | None = None,
) -> AsyncIterator[Stack]:
    """Local Bot API + bot + dispatcher (+ runtime over ``modules_dir`` unless it is ``None``).

    With ``polling`` the dispatcher polls the local server (``polling_timeout`` is the long-poll
    wait; the local server answers as soon as an update is queued). The runtime's router comes
    first, then ``core``, as in ``tests/test_module_bridge.py``. ``bot_api_rate`` replaces the
    default per-module Bot API rate limit (calls/s) of the host's ``BotApiPolicy``.
    """
    async with LocalBotAPI() as api:
        # The session the host itself builds its bot with (host/app.py), for every stack alike.
        bot = Bot(api.token, session=ResponseTypesKept(api=TelegramAPIServer.from_base(api.base_url)))
        storage = MemoryStorage()
        dp = Dispatcher(storage=storage)
        try:
            if modules_dir is None:
                if core is not None:
                    dp.include_router(core)
                stack = Stack(api, bot, dp, storage, None)
                async with _polling(stack, polling, polling_timeout):
                    yield stack
                return
            from runtime.aiogram_bridge.update_forwarding import modules_router
            from sandbox.bot_api_policy import BotApiPolicy

            policy = {} if bot_api_rate is None else {"bot_api_policy": BotApiPolicy(default_rate=bot_api_rate)}
            services = HostServices(bot=bot, fsm_storage=storage, database_url=database_url, settings={"ADMIN_ID": [1]}, **policy)
            started = time.perf_counter()
            async with ModuleRuntime(
                modules_dir, state_file=state_file, config=config or RuntimeConfig(), services=services, sandbox=False
            ) as rt:
                dp.include_router(modules_router(rt))
                if core is not None:
                    dp.include_router(core)
                stack = Stack(api, bot, dp, storage, rt, startup_seconds=time.perf_counter() - started)
                async with _polling(stack, polling, polling_timeout):
                    yield stack
        finally:
            await bot.session.close()


@asynccontextmanager
async def _polling(stack: Stack, enabled: bool, polling_timeout: int) -> AsyncIterator[None]:
    if not enabled:
        yield
        return
    stack.polling = asyncio.create_task(
        stack.dp.start_polling(stack.bot, handle_signals=False, close_bot_session=False, polling_timeout=polling_timeout)
    )
    try:
        yield
    finally:
        await stack.dp.stop_polling()
        await asyncio.gather(stack.polling, return_exceptions=True)


# ----------------------------------------------------------------------- answer watcher


class AnswerWatcher:
    """Resolves a future with ``time.perf_counter()`` when the server records a callback answer.

    It wraps ``world.notify`` (every change of the fake Telegram calls it; answerCallbackQuery
    does right after storing the answer), so the stamp is taken inside the server's request
    handler, not when some waiter next wakes up. Only the queries being waited on are checked.
    """

    def __init__(self, api: LocalBotAPI) -> None:
        self.world = api.world
        self._pending: dict[str, tuple[Any, asyncio.Future[float]]] = {}
        original = self.world.notify

        def notify() -> None:
            original()
            if self._pending:
                self._check()

        self.world.notify = notify  # type: ignore[method-assign]

    def expect(self, query_id: str) -> asyncio.Future[float]:
        record = self.world.callback_queries[query_id]
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        if record.answer is not None:
            future.set_result(time.perf_counter())
        else:
            self._pending[query_id] = (record, future)
        return future

    def _check(self) -> None:
        now = time.perf_counter()
        for query_id, (record, future) in list(self._pending.items()):
            if record.answer is not None:
                del self._pending[query_id]
                if not future.done():
                    future.set_result(now)


# --------------------------------------------------------------------------- IPC meter


class _CountingTransport(asyncio.Transport):
    """Wraps a peer's transport to count the bytes it writes (frames with their headers)."""

    def __init__(self, inner: asyncio.Transport, on_write: Callable[[int], None]) -> None:
        super().__init__()
        self._inner = inner
        self._on_write = on_write

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._on_write(len(data))
        self._inner.write(data)

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def abort(self) -> None:
        self._inner.abort()

    def close(self) -> None:
        self._inner.close()

    def is_closing(self) -> bool:
        return self._inner.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._inner.get_extra_info(name, default)

    def get_write_buffer_size(self) -> int:
        return self._inner.get_write_buffer_size()

    def pause_reading(self) -> None:
        self._inner.pause_reading()

    def resume_reading(self) -> None:
        self._inner.resume_reading()

    def is_reading(self) -> bool:
        return self._inner.is_reading()


@dataclass
class IpcCounts:
    """Per channel (``"module m000"``…): messages by ``"kind method"`` and bytes, each direction."""

    sent: Counter[tuple[str, str]] = field(default_factory=Counter)
    received: Counter[tuple[str, str]] = field(default_factory=Counter)
    bytes_sent: Counter[str] = field(default_factory=Counter)
    bytes_received: Counter[str] = field(default_factory=Counter)

    def copy(self) -> IpcCounts:
        return IpcCounts(Counter(self.sent), Counter(self.received), Counter(self.bytes_sent), Counter(self.bytes_received))

    def since(self, before: IpcCounts) -> IpcCounts:
        return IpcCounts(
            self.sent - before.sent,
            self.received - before.received,
            self.bytes_sent - before.bytes_sent,
            self.bytes_received - before.bytes_received,
        )

    def by_message(self, direction: str, *, skip: frozenset[str] = frozenset()) -> dict[str, int]:
        """``"kind method"`` → count over all channels (``direction`` is "sent" or "received")."""
        counts: Counter[str] = Counter()
        for (_, message), n in getattr(self, direction).items():
            if message not in skip:
                counts[message] += n
        return dict(sorted(counts.items()))

    def total_bytes(self) -> dict[str, int]:
        return {"sent": sum(self.bytes_sent.values()), "received": sum(self.bytes_received.values())}

    def to_json(self) -> dict[str, Any]:
        return {
            "sent": self.by_message("sent"),
            "received": self.by_message("received"),
            "bytes": self.total_bytes(),
            "bytes_per_channel": {
                name: {"sent": self.bytes_sent[name], "received": self.bytes_received[name]}
                for name in sorted(set(self.bytes_sent) | set(self.bytes_received))
            },
        }


def _describe(msg: Any, requests: dict[int, str]) -> str:
    if isinstance(msg, Request):
        return f"request {msg.method}"
    if isinstance(msg, Response):
        return f"response {requests.get(msg.id, '?')}"
    if isinstance(msg, Error):
        return f"error {requests.get(msg.id, '?')}"
    if isinstance(msg, Notify):
        return f"notify {msg.method}"
    if isinstance(msg, Cancel):
        return "cancel"
    return type(msg).__name__


class IpcMeter:
    """Counts every message and byte of the host's IPC peers; install before the runtime starts.

    It wraps three methods of ``ipc.peer.Peer`` in this process only (module processes are forked
    from the zygote, a separate interpreter): ``connection_made`` (to wrap the transport and count
    written bytes), ``data_received`` (read bytes) and ``_send`` / ``_dispatch`` (messages). A
    response is attributed to the method of the request it answers.
    """

    def __init__(self) -> None:
        self.counts = IpcCounts()
        self._saved: dict[str, Any] = {}
        # (time.time(), channel, "kind method") of every message received, while ``record_arrivals``.
        self.record_arrivals = False
        self.arrivals: list[tuple[float, str, str]] = []

    def install(self) -> IpcMeter:
        peer_cls = ipc_peer.Peer
        self._saved = {name: getattr(peer_cls, name) for name in ("connection_made", "data_received", "_send", "_dispatch")}
        saved, counts = self._saved, self.counts
        outgoing: dict[int, dict[int, str]] = {}  # id(peer) → request id → method (requests we sent)
        incoming: dict[int, dict[int, str]] = {}  # id(peer) → request id → method (requests we serve)

        def connection_made(peer: Any, transport: asyncio.BaseTransport) -> None:
            assert isinstance(transport, asyncio.Transport)

            def on_write(n: int) -> None:
                counts.bytes_sent[peer.name] += n

            saved["connection_made"](peer, _CountingTransport(transport, on_write))

        def data_received(peer: Any, data: bytes) -> None:
            counts.bytes_received[peer.name] += len(data)
            saved["data_received"](peer, data)

        def send(peer: Any, msg: Any) -> None:
            if isinstance(msg, Request):
                outgoing.setdefault(id(peer), {})[msg.id] = msg.method
            served = incoming.get(id(peer), {})
            counts.sent[(peer.name, _describe(msg, served))] += 1
            if isinstance(msg, (Response, Error)):
                served.pop(msg.id, None)
            saved["_send"](peer, msg)

        def dispatch(peer: Any, msg: Any) -> None:
            if isinstance(msg, Request):
                incoming.setdefault(id(peer), {})[msg.id] = msg.method
            sent = outgoing.get(id(peer), {})
            described = _describe(msg, sent)
            counts.received[(peer.name, described)] += 1
            if self.record_arrivals:
                self.arrivals.append((time.time(), peer.name, described))
            if isinstance(msg, (Response, Error)):
                sent.pop(msg.id, None)
            saved["_dispatch"](peer, msg)

        peer_cls.connection_made = connection_made  # type: ignore[method-assign]
        peer_cls.data_received = data_received  # type: ignore[method-assign]
        peer_cls._send = send  # type: ignore[method-assign]
        peer_cls._dispatch = dispatch  # type: ignore[method-assign]
        return self

    def uninstall(self) -> None:
        for name, value in self._saved.items():
            setattr(ipc_peer.Peer, name, value)
        self._saved = {}

    def snapshot(self) -> IpcCounts:
        return self.counts.copy()


# ---------------------------------------------------------------------------- database


@asynccontextmanager
async def embedded_database(folder: Path, name: str = "bench") -> AsyncIterator[tuple[str, Any]]:
    """A fresh database ``name`` on an embedded PostgreSQL kept in ``folder``, with the core tables.

    ``database.db`` is bound to it (as ``tests/conftest.py`` does). Yields ``(url, server)``;
    ``server.pid`` is the postmaster's pid. The server is stopped on exit.
    """
    from sqlalchemy import text
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    import database.db
    from database.embedded import EmbeddedPostgres
    from database.init_db import init_db

    pg = EmbeddedPostgres(folder)
    await asyncio.to_thread(pg.start)
    try:
        admin = create_async_engine(pg.url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        await admin.dispose()
        url = make_url(pg.url).set(database=name).render_as_string(hide_password=False)
        engine = database.db.bind(url)
        try:
            await init_db(engine)
            yield url, pg
        finally:
            await database.db.dispose()
    finally:
        await asyncio.to_thread(pg.stop)
