"""Two bot workers sharing one real Redis and one PostgreSQL: a conversation continues on the other.

Each worker is what a worker process runs: its own Bot, its own Redis client (``make_shared_state``),
its own module runtime with its own module process, its own Dispatcher polling the one local Bot
API server. Only one worker polls at a time, so each step of a conversation is handled by the
worker the test picks; the answers say which worker (and which module process) handled them.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiogram import Bot, Dispatcher, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import Message

from host.shared_state import make_shared_state
from local_bot_api import LocalBotAPI, SimulatedUser
from runtime import HostServices, ModuleRuntime, RuntimeConfig
from runtime.aiogram_bridge.core_fsm_storage import CoreFSMStorage
from runtime.aiogram_bridge.update_forwarding import modules_router
from sandbox.bot_api_policy import BotApiPolicy
from tests.conftest import ModuleFolder, wait_until
from tests.shared_zygote import ThreadedZygote

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

FORM_MODULE = """
import os

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import Message

router = Router()

class Form(StatesGroup):
    name = State()

@router.message(Command("modform"))
async def ask(message: Message, state: FSMContext):
    await state.set_state(Form.name)
    await state.update_data(asked_by=os.getpid())
    await message.answer("module: your name?")

@router.message(Form.name, ~F.text.startswith("/"))  # commands (the core's /start) are not names
async def got(message: Message, state: FSMContext):
    data = await state.get_data()
    await state.clear()
    await message.answer(f"module got {message.text}; asked by {data['asked_by']}, answered by {os.getpid()}")
"""


class CoreForm(StatesGroup):
    amount = State()


def core_stand_in(worker: str) -> Router:
    """A core with a conversation of its own, and /start clearing the user's state as the real core does."""
    router = Router(name="core")

    @router.message(Command("coreform"))
    async def ask(message: Message, state: FSMContext) -> None:
        await state.set_state(CoreForm.amount)
        await state.update_data(asked_on=worker)
        await message.answer("core: amount?")

    @router.message(Command("start"))
    async def start(message: Message, state: FSMContext) -> None:
        await state.clear()
        await message.answer(f"start on {worker}")

    @router.message(CoreForm.amount)
    async def got(message: Message, state: FSMContext) -> None:
        data = await state.get_data()
        await state.clear()
        await message.answer(f"core got {message.text}; asked on {data['asked_on']}, answered on {worker}")

    @router.message()
    async def fallback(message: Message) -> None:
        await message.answer(f"no conversation on {worker}")

    return router


@dataclass
class Worker:
    name: str
    api: LocalBotAPI
    bot: Bot
    dp: Dispatcher
    runtime: ModuleRuntime

    def module_pid(self, module: str) -> int:
        return next(s["pid"] for s in self.runtime.status() if s["name"] == module)

    @asynccontextmanager
    async def polling(self) -> AsyncIterator[None]:
        """This worker takes the updates for the block; the updates it handled are confirmed on leaving."""
        task = asyncio.create_task(
            self.dp.start_polling(self.bot, handle_signals=False, close_bot_session=False, polling_timeout=1)
        )
        try:
            yield
            await wait_until(lambda: not self.api.world.updates)  # confirmed: the next worker does not get them again
        finally:
            await self.dp.stop_polling()
            await asyncio.gather(task, return_exceptions=True)


@asynccontextmanager
async def worker(
    name: str, api: LocalBotAPI, modules: ModuleFolder, db: str, redis_url: str, tmp_path: Path, zygote: ThreadedZygote
) -> AsyncIterator[Worker]:
    bot = Bot(api.token, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url)))
    shared = make_shared_state(redis_url, bot.id)
    storage = CoreFSMStorage(shared.fsm_storage)
    services = HostServices(
        bot=bot,
        fsm_storage=storage,
        fsm_ledger=shared.fsm_ledger,
        bot_api_policy=BotApiPolicy(buckets=shared.bot_api_buckets),
        database_url=db,
        settings={"ADMIN_ID": [1]},
    )
    runtime = ModuleRuntime(
        modules.root,
        state_file=tmp_path / f"{name}.json",
        config=RuntimeConfig(update_timeout=5.0),
        services=services,
        zygote=zygote,
        sandbox=False,  # a test of shared state between workers, not of the sandbox
    )
    try:
        async with runtime as rt:
            dp = Dispatcher(storage=storage)
            dp.include_routers(modules_router(rt), core_stand_in(name))
            yield Worker(name, api, bot, dp, rt)
    finally:
        await storage.close()
        await bot.session.close()


@pytest.fixture
async def two_workers(
    modules: ModuleFolder, db: str, redis_url: str, tmp_path: Path, shared_zygote: ThreadedZygote
) -> AsyncIterator[tuple[Worker, Worker]]:
    modules.add("former", FORM_MODULE)
    async with LocalBotAPI() as api:
        async with worker("A", api, modules, db, redis_url, tmp_path, shared_zygote) as a:
            async with worker("B", api, modules, db, redis_url, tmp_path, shared_zygote) as b:
                assert a.module_pid("former") != b.module_pid("former")
                yield a, b


async def say(user: SimulatedUser, text: str) -> str:
    await user.send(text)
    reply = await user.wait_for_reply(timeout=10)
    return reply.text or ""


async def test_a_core_conversation_begun_on_one_worker_continues_on_the_other(two_workers: tuple[Worker, Worker]) -> None:
    a, b = two_workers
    user = a.api.user(100)
    async with a.polling():
        assert await say(user, "/coreform") == "core: amount?"
    async with b.polling():
        assert await say(user, "250") == "core got 250; asked on A, answered on B"
        assert await say(user, "250") == "no conversation on B"  # B's clear is A's too
    async with a.polling():
        assert await say(user, "250") == "no conversation on A"


async def test_a_module_conversation_begun_on_one_worker_continues_on_the_other(two_workers: tuple[Worker, Worker]) -> None:
    a, b = two_workers
    user = a.api.user(101)
    async with a.polling():
        assert await say(user, "/modform") == "module: your name?"
    async with b.polling():
        answer = await say(user, "Alice")
    assert answer == f"module got Alice; asked by {a.module_pid('former')}, answered by {b.module_pid('former')}"
    assert os.getpid() not in (a.module_pid("former"), b.module_pid("former"))


async def test_the_cores_start_on_one_worker_ends_a_module_conversation_begun_on_the_other(
    two_workers: tuple[Worker, Worker],
) -> None:
    a, b = two_workers
    user = a.api.user(102)
    async with a.polling():
        assert await say(user, "/modform") == "module: your name?"
    async with b.polling():
        assert await say(user, "/start") == "start on B"
        assert await say(user, "Alice") == "no conversation on B"  # the module's flow ended with the core's
    async with a.polling():
        assert await say(user, "Alice") == "no conversation on A"


async def test_the_whole_bot_with_redis_url_continues_a_module_conversation_after_a_restart(
    pg_url: str, redis_url: str, shared_zygote: ThreadedZygote
) -> None:
    """``SolobotHost`` wired to Redis (``REDIS_URL``): a worker restarted (or another one) picks up the
    conversation its predecessor's module process began, from the module's own namespace in Redis."""
    import redis.asyncio

    from tests.conftest import fresh_database
    from tests.solobot_harness import running_solobot, traversable_dir

    with traversable_dir() as root:
        ModuleFolder(root / "modules").add("former", FORM_MODULE)
        async with fresh_database(pg_url) as url, LocalBotAPI(token="123456:TEST") as api:
            user = api.user(300)
            async with running_solobot(url, root / "modules", root, zygote=shared_zygote, api=api, redis_url=redis_url) as bot:
                assert await say(user, "/modform") == "module: your name?"
                first = bot.host.runtime.module_status("former")["pid"]
                await wait_until(lambda: not api.world.updates)  # confirmed: the next bot does not get it again
            client = redis.asyncio.Redis.from_url(redis_url)
            try:
                keys = {key.decode() for key in await client.keys("solobot:fsm:*")}
            finally:
                await client.aclose()
            assert keys == {
                "solobot:fsm:123456:300:300:solobot.module:former:default:state",
                "solobot:fsm:123456:300:300:solobot.module:former:default:data",
            }
            async with running_solobot(url, root / "modules", root, zygote=shared_zygote, api=api, redis_url=redis_url) as bot:
                second = bot.host.runtime.module_status("former")["pid"]
                assert await say(user, "Bob") == f"module got Bob; asked by {first}, answered by {second}"
