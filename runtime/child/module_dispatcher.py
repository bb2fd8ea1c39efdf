"""The module's own aiogram ``Dispatcher``, fed the updates the host forwards.

It also runs the module's router lifecycle as aiogram's polling does: ``startup`` observers
(``@router.startup()``) when the process starts serving, ``shutdown`` observers when it stops,
with the keyword arguments aiogram passes (``bot``, ``bots``, ``dispatcher``, ``router`` and the
dispatcher's workflow data). Start, restart and reload all start a new process and retire the
old one, so every one of them runs both.

A middleware gives the handler a database session (this process's own connection) if it takes
one, committed after it succeeded and rolled back after it raised, as upstream's DB middleware
does. ``admin`` comes from the host, which owns the admin list. The FSM context is
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
from .module_import import ModuleCodeError


class RouterStartupError(ModuleCodeError):
    """A ``@router.startup()`` observer of the module raised: the module did not start."""

    prefix = "a startup handler of the module's router failed: "


class SessionForHandler(BaseMiddleware):
    """A database session for the handler that takes one (``session`` or ``**kwargs``), and only for it.

    An inner middleware: it runs once the handler is chosen, so an update whose handler never
    touches the database costs no session (most module handlers answer from memory). Filters get
    no session; the core's ``IsAdminFilter`` opens its own when it needs one.
    """

    def __init__(self, context: ModuleContext) -> None:
        self._context = context

    async def __call__(
        self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]], event: TelegramObject, data: dict[str, Any]
    ) -> Any:
        chosen = data.get("handler")
        wants = chosen is None or "session" in chosen.params or chosen.varkw
        if not self._context.database or not wants or "session" in data:
            return await handler(event, data)
        async with CallScope(self._context) as scope:
            data["session"] = scope.session
            return await handler(event, data)


class ModuleDispatcher:
    def __init__(self, context: ModuleContext, router: Router) -> None:
        self._context = context
        # Upstream builds its dispatcher as ``Dispatcher(bot=bot, storage=storage)``: ``bot`` is in
        # its workflow data, which observers and handlers receive.
        self._dispatcher = Dispatcher(storage=context.storage, bot=context.bot)
        session = SessionForHandler(context)
        for name, observer in self._dispatcher.observers.items():
            if name != "update":  # the update observer's one handler is the dispatcher's own propagation
                observer.middleware(session)
        self._dispatcher.include_router(router)
        self.started = False

    def _lifecycle_kwargs(self) -> dict[str, Any]:
        # What ``Dispatcher.start_polling`` passes to ``emit_startup`` / ``emit_shutdown``.
        bot = self._context.bot
        return {**self._dispatcher.workflow_data, "dispatcher": self._dispatcher, "bots": [bot], "bot": bot}

    async def startup(self) -> None:
        """Run the routers' startup observers; ``RouterStartupError`` (with the traceback) if one raises."""
        try:
            await self._dispatcher.emit_startup(**self._lifecycle_kwargs())
        except Exception as exc:
            raise RouterStartupError.from_exception(exc) from None
        self.started = True

    async def shutdown(self) -> None:
        """Run the routers' shutdown observers (once, and only after a successful startup)."""
        if not self.started:
            return
        self.started = False
        await self._dispatcher.emit_shutdown(**self._lifecycle_kwargs())

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
