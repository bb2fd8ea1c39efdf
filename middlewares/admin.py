"""``admin`` (bool) and ``admin_role`` in handler data: configured ids, or a row in ``admins``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, User

from database.admins import get_admin_role

SUPERADMIN = "superadmin"


class AdminMiddleware(BaseMiddleware):
    def __init__(self, admin_ids: Iterable[int]) -> None:
        self.admin_ids = frozenset(int(i) for i in admin_ids)

    async def __call__(
        self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]], event: TelegramObject, data: dict[str, Any]
    ) -> Any:
        user: User | None = data.get("event_from_user")
        role = None
        if user is not None:
            if user.id in self.admin_ids:
                role = SUPERADMIN
            elif (session := data.get("session")) is not None:
                role = await get_admin_role(session, user.id)
        data["admin"] = role is not None
        data["admin_role"] = role or ""
        return await handler(event, data)
