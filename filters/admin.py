"""``IsAdminFilter``: the user is in ``config.ADMIN_ID`` or in the ``admins`` table."""

from __future__ import annotations

from typing import Any

from aiogram.filters import Filter
from aiogram.types import TelegramObject
from sqlalchemy.ext.asyncio import AsyncSession

from database import async_session_maker
from database.admins import get_admin_role


class IsAdminFilter(Filter):
    async def __call__(self, event: TelegramObject, session: AsyncSession | None = None, **data: Any) -> bool:
        user = getattr(event, "from_user", None) or data.get("event_from_user")
        if user is None:
            return False
        if isinstance(data.get("admin"), bool):
            # Decided by the host's admin middleware (ADMIN_IDS and the admins table); a module
            # process may not read the admins table itself.
            return data["admin"]
        if user.id in configured_admin_ids():
            return True
        if session is not None:
            return await get_admin_role(session, user.id) is not None
        async with async_session_maker() as own_session:
            return await get_admin_role(own_session, user.id) is not None


def configured_admin_ids() -> frozenset[int]:
    try:
        import config
    except ImportError:
        return frozenset()
    ids = getattr(config, "ADMIN_ID", None) or ()
    if isinstance(ids, int | str):
        ids = [ids]
    return frozenset(int(i) for i in ids)
