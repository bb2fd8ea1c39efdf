"""Maintenance mode: while on, only admins get through (the switch is in the admin settings).

The switch is a :class:`MaintenanceMode` owned by the dispatcher: ``setup_middlewares`` puts it in
``dp["maintenance"]``, so the admin handler receives it as its ``maintenance`` argument and the
middleware reads the same object — no module global, one switch per dispatcher. It is this
process's (``LocalFlag``, off when the bot starts) or, with ``REDIS_URL``, a key in Redis that
every worker reads (``RedisFlag``): an admin's switch on one worker holds on all of them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject

from shared_state.flag import Flag

from .replies import short_reply

MaintenanceMode = Flag  # whether the bot is in maintenance: ``await is_on()``, ``await toggle()``


class MaintenanceMiddleware(BaseMiddleware):
    def __init__(self, mode: MaintenanceMode, text: str) -> None:
        self.mode = mode
        self.text = text

    async def __call__(
        self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]], event: TelegramObject, data: dict[str, Any]
    ) -> Any:
        if not data.get("admin") and await self.mode.is_on():
            await short_reply(event, self.text)
            return None
        return await handler(event, data)
