"""The module's own aiogram ``Dispatcher``, fed the updates the host forwards.

Its outer middleware gives each update a database session (this process's own connection),
committed after a handler that succeeded and rolled back after one that raised, as upstream's
DB middleware does. ``admin`` comes from the host, which owns the admin list. The FSM context is
built by aiogram from the host-backed storage.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Dispatcher, Router
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.methods import TelegramMethod
from aiogram.types import TelegramObject, Update

from .call_scope import CallScope
from .context import ModuleContext


class SessionPerUpdate(BaseMiddleware):
    def __init__(self, context: ModuleContext) -> None:
        self._context = context

    async def __call__(
        self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]], event: TelegramObject, data: dict[str, Any]
    ) -> Any:
        if not self._context.database:
            return await handler(event, data)
        async with CallScope(self._context) as scope:
            data["session"] = scope.session
            return await handler(event, data)


class ModuleDispatcher:
    def __init__(self, context: ModuleContext, router: Router) -> None:
        self._context = context
        self._dispatcher = Dispatcher(storage=context.storage)
        self._dispatcher.update.outer_middleware(SessionPerUpdate(context))
        self._dispatcher.include_router(router)

    async def feed(self, update: Update, admin: bool | None) -> bool:
        """Run the module's handlers on ``update``; ``True`` when one of them handled it.

        ``admin`` is the host's verdict (its admin middleware); without one (a bare host), handlers
        and ``IsAdminFilter`` decide from ``config.ADMIN_ID`` as upstream's would.
        """
        bot = self._context.bot
        data = {"admin": admin} if admin is not None else {}
        result = await self._dispatcher.feed_update(bot, update, **data)
        if isinstance(result, TelegramMethod):  # a handler may return a method, as in webhook mode
            await bot(result)
        return result is not UNHANDLED
