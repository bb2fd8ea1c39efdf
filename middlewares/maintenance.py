"""Maintenance mode: while on, only admins get through (the switch is in the admin settings).

The switch is a :class:`MaintenanceMode` owned by the dispatcher: ``setup_middlewares`` puts it in
``dp["maintenance"]``, so the admin handler receives it as its ``maintenance`` argument and the
middleware reads the same object — no module global, one switch per dispatcher.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject

from .replies import short_reply


class MaintenanceMode:
    """Whether the bot is in maintenance; off when the bot starts."""

    def __init__(self, enabled: bool = False) -> None:
        self.enabled = enabled

    def toggle(self) -> bool:
        """Flip the switch; the new state."""
        self.enabled = not self.enabled
        return self.enabled


class MaintenanceMiddleware(BaseMiddleware):
    def __init__(self, mode: MaintenanceMode, text: str) -> None:
        self.mode = mode
        self.text = text

    async def __call__(
        self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]], event: TelegramObject, data: dict[str, Any]
    ) -> Any:
        if self.mode.enabled and not data.get("admin"):
            await short_reply(event, self.text)
            return None
        return await handler(event, data)
