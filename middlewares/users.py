"""Registers every user who writes (``add_user``); ``is_new_user`` tells handlers about first contact."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, User

from database import add_user

_KNOWN_CACHE_SIZE = 100_000


class UserRegistrationMiddleware(BaseMiddleware):
    def __init__(self) -> None:
        # Users known to exist: their updates skip the INSERT ... ON CONFLICT round trip.
        self._known: OrderedDict[int, None] = OrderedDict()

    async def __call__(
        self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]], event: TelegramObject, data: dict[str, Any]
    ) -> Any:
        user: User | None = data.get("event_from_user")
        session = data.get("session")
        data["is_new_user"] = False
        if user is not None and session is not None and not user.is_bot:
            if user.id in self._known:
                self._known.move_to_end(user.id)
            else:
                inserted = await add_user(
                    session,
                    user.id,
                    username=user.username,
                    first_name=user.first_name,
                    last_name=user.last_name,
                    language_code=user.language_code,
                    is_bot=user.is_bot,
                    # Committed at once: module handlers run in their own processes and transactions,
                    # and a module table's FK to users.tg_id must see the new user.
                    commit=True,
                )
                data["is_new_user"] = bool(inserted)
                self._remember(user.id)
        return await handler(event, data)

    def _remember(self, tg_id: int) -> None:
        self._known[tg_id] = None
        if len(self._known) > _KNOWN_CACHE_SIZE:
            self._known.popitem(last=False)

    def forget(self, tg_id: int) -> None:
        """Call after deleting a user so the next update registers them again."""
        self._known.pop(tg_id, None)
