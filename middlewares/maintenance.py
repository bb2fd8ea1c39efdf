"""Maintenance mode: while on, only admins get through (the switch is in the admin settings)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject

from .replies import short_reply

_enabled = False


def is_maintenance() -> bool:
    return _enabled


def set_maintenance(enabled: bool) -> None:
    global _enabled
    _enabled = bool(enabled)


class MaintenanceMiddleware(BaseMiddleware):
    def __init__(self, text: str) -> None:
        self.text = text

    async def __call__(
        self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]], event: TelegramObject, data: dict[str, Any]
    ) -> Any:
        if _enabled and not data.get("admin"):
            await short_reply(event, self.text)
            return None
        return await handler(event, data)
