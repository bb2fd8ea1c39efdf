"""Per-user throttling, before anything touches the database."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update, User

from .replies import short_reply

_SWEEP_AT = 10_000  # forget old entries once the table holds this many users


class ThrottlingMiddleware(BaseMiddleware):
    """Drops a user's update that comes less than ``rate`` seconds after their previous one.
    A dropped button press is answered (so the client stops spinning); a dropped message is not."""

    def __init__(self, rate: float, text: str) -> None:
        self.rate = rate
        self.text = text
        self._last: dict[int, float] = {}

    async def __call__(
        self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]], event: TelegramObject, data: dict[str, Any]
    ) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None or self.rate <= 0:
            return await handler(event, data)
        now = time.monotonic()
        previous = self._last.get(user.id)
        if previous is not None and now - previous < self.rate:
            if isinstance(event, Update) and event.callback_query is not None:
                await short_reply(event, self.text)
            return None
        self._last[user.id] = now
        if len(self._last) > _SWEEP_AT:
            self._last = {uid: t for uid, t in self._last.items() if now - t < self.rate}
        return await handler(event, data)
