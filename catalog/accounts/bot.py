"""The catalog's bot: confirms one-time login links (``/start login_<nonce>``) with a button.

Runs by long polling on ``CATALOG_BOT_TOKEN`` (the same bot the Login Widget is registered
for), against ``CATALOG_TELEGRAM_API_URL`` when set (the local Bot API server of the demo and tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.filters import CommandObject, CommandStart
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import async_sessionmaker

from .login_links import NONCE, confirm_link
from .widget import TelegramIdentity

log = logging.getLogger("solobot.catalog")
CALLBACK = "login:"


def login_router(sessions: async_sessionmaker, catalog_url: str) -> Router:
    router = Router(name="catalog-login")

    @router.message(CommandStart(deep_link=True, magic=F.args.startswith("login_")))
    async def ask(message: Message, command: CommandObject) -> None:
        nonce = (command.args or "")[len("login_") :]
        if not NONCE.fullmatch(nonce):
            await message.answer("Ссылка для входа повреждена: откройте её заново со страницы каталога.")
            return
        button = InlineKeyboardButton(text="✅ Подтвердить вход", callback_data=CALLBACK + nonce)
        await message.answer(
            f"Войти в каталог модулей Solobot ({catalog_url}) под вашим Telegram-аккаунтом?\n"
            "Подтверждайте, только если вы сами только что нажали «Войти через бота» на этом сайте.",
            reply_markup=InlineKeyboardMarkup(inline_keyboard=[[button]]),
        )

    @router.message(CommandStart())
    async def hello(message: Message) -> None:
        await message.answer(f"Это бот каталога модулей Solobot. Войти на сайт: {catalog_url}/login")

    @router.callback_query(F.data.startswith(CALLBACK))
    async def confirm(callback: CallbackQuery) -> None:
        nonce = (callback.data or "")[len(CALLBACK) :]
        user = callback.from_user
        identity = TelegramIdentity(user.id, user.first_name or "", user.username)
        async with sessions.begin() as session:
            ok = await confirm_link(session, nonce, identity)
        text = (
            "Вход подтверждён — вернитесь на страницу каталога."
            if ok
            else "Ссылка устарела или уже использована: начните вход заново."
        )
        await callback.answer()
        if callback.message is not None and isinstance(callback.message, Message):
            await callback.message.edit_text(text)

    return router


class LoginBot:
    """``async with LoginBot(...) as bot``: polling in the background; ``username`` from getMe."""

    def __init__(self, token: str, sessions: async_sessionmaker, catalog_url: str, api_url: str | None = None) -> None:
        session = AiohttpSession(api=TelegramAPIServer.from_base(api_url)) if api_url else None
        self.bot = Bot(token, session=session) if session else Bot(token)
        self.dispatcher = Dispatcher()
        self.dispatcher.include_router(login_router(sessions, catalog_url))
        self.username: str | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LoginBot:
        me = await self.bot.get_me()
        self.username = me.username
        self._task = asyncio.create_task(self.dispatcher.start_polling(self.bot, handle_signals=False, polling_timeout=5))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            with contextlib.suppress(RuntimeError):
                await self.dispatcher.stop_polling()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._task, 10)
        await self.bot.session.close()
