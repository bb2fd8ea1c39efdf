"""Helpers for the core tests: a real Dispatcher with the core routers and middlewares polling
the local Bot API server, on the real PostgreSQL of the ``db`` fixture."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode

import bot as bot_module
from hooks import hooks as hooks_module
from local_bot_api import LocalBotAPI, MessageView, SimulatedUser


@dataclass
class CoreBot:
    api: LocalBotAPI
    bot: Bot
    dp: Dispatcher

    def user(self, tg_id: int, first_name: str = "User", username: str | None = None) -> SimulatedUser:
        return self.api.user(tg_id=tg_id, first_name=first_name, username=username)


@asynccontextmanager
async def running_core(admin_ids: Iterable[int] = (), throttle_rate: float = 0.0) -> AsyncIterator[CoreBot]:
    """The core bot polling a fresh local Bot API server (``database.db`` must be bound: ``db``)."""
    from database import async_session_maker
    from handlers import core_routers
    from handlers.payments.pending_purchase import install_purchase_completion
    from middlewares import setup_middlewares

    async with LocalBotAPI(token="123456:TEST") as api:
        session = AiohttpSession(api=TelegramAPIServer.from_base(api.base_url))
        bot = Bot(token=api.token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))
        dp = Dispatcher()
        setup_middlewares(dp, admin_ids=admin_ids, throttle_rate=throttle_rate)
        dp.include_routers(*core_routers())
        completion = install_purchase_completion(async_session_maker)  # as the host does
        bot_module.set_current_bot(bot)
        task = asyncio.create_task(dp.start_polling(bot, handle_signals=False, polling_timeout=1))
        try:
            yield CoreBot(api, bot, dp)
        finally:
            await dp.stop_polling()
            await asyncio.wait_for(task, 5)
            await bot.session.close()
            bot_module.set_current_bot(None)
            hooks_module.unregister_hook("payment_success", completion)


@contextmanager
def hooked(name: str, func: Callable[..., Any]) -> Iterator[Callable[..., Any]]:
    """``func`` registered for hook ``name`` for the duration of the block."""
    hooks_module.register_hook(name, func)
    try:
        yield func
    finally:
        registered = hooks_module._hooks.get(name, [])
        if func in registered:
            registered.remove(func)
        if not registered:
            hooks_module._hooks.pop(name, None)


def shown(view: MessageView) -> str:
    """What the user reads: the text, or the caption of a picture."""
    return view.text or view.caption or ""


def callbacks(view: MessageView) -> list[str | None]:
    return [data for row in view.keyboard for _, data in row]


async def reply_with(user: SimulatedUser, needle: str, timeout: float = 5) -> MessageView:
    """The next bot message (sent or edited) whose text or caption contains ``needle``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        view = await user.wait_for_reply(timeout=max(remaining, 0.01))
        if needle in shown(view):
            return view


async def press(user: SimulatedUser, button: str, needle: str, timeout: float = 5) -> MessageView:
    await user.press(button)
    return await reply_with(user, needle, timeout)


async def send(user: SimulatedUser, text: str, needle: str, timeout: float = 5) -> MessageView:
    await user.send(text)
    return await reply_with(user, needle, timeout)


async def press_forged(user: SimulatedUser, data: str) -> dict:
    """A callback with ``data`` on the user's last bot message, as a modified client could send."""
    world = user.world
    message = next(m for m in reversed(world.messages[user.id].values()) if m.sender.is_bot and not m.deleted)
    record = world.new_callback_query(user.id, message, data)
    payload = {"id": record.id, "from": user.info.to_dict(), "message": message.to_dict(), "chat_instance": str(user.id)}
    world.enqueue_update("callback_query", {**payload, "data": data})
    return await user.wait_until(lambda u: u.world.callback_queries[record.id].answer)
