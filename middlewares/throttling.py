"""Per-user throttling, before anything touches the database."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update, User

from shared_state.user_gate import LocalUserGate, UserGate

from .replies import short_reply


class ThrottlingMiddleware(BaseMiddleware):
    """Drops a user's update that comes less than ``rate`` seconds after their previous one.
    A dropped button press is answered (so the client stops spinning); a dropped message is not.

    ``gate`` remembers the users' last updates: this process's memory by default, or Redis
    (``shared_state.user_gate.RedisUserGate``) so every worker of the bot throttles together."""

    def __init__(self, rate: float, text: str, gate: UserGate | None = None) -> None:
        self.rate = rate
        self.text = text
        self.gate = gate if gate is not None else LocalUserGate()

    async def __call__(
        self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]], event: TelegramObject, data: dict[str, Any]
    ) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None or self.rate <= 0:
            return await handler(event, data)
        if not await self.gate.admit(user.id, self.rate):
            if isinstance(event, Update) and event.callback_query is not None:
                await short_reply(event, self.text)
            return None
        return await handler(event, data)
