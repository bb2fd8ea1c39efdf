"""Banned users (``manual_bans``) get one short answer and nothing else."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, User

from database import is_user_banned

from .replies import short_reply


class BanCheckMiddleware(BaseMiddleware):
    def __init__(self, text: str) -> None:
        self.text = text

    async def __call__(
        self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]], event: TelegramObject, data: dict[str, Any]
    ) -> Any:
        user: User | None = data.get("event_from_user")
        session = data.get("session")
        if user is not None and session is not None and not data.get("admin") and await is_user_banned(session, user.id):
            await short_reply(event, self.text, alert=True)
            return None
        return await handler(event, data)
