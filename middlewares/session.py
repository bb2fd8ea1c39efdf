"""One ``AsyncSession`` per update (handler data ``session``): committed after the handler, rolled back on error.

The session holds a pooled connection only while a transaction is open: ``AsyncSession`` takes
one on its first statement and gives it back on commit or rollback. The checks that run before
any router (user registration, admin role, ban) use it, and :class:`ReleaseBeforeRouting` ends
their transaction before the update is routed: an update a module handles (up to
``update_timeout`` in another process) then holds no connection of the host's pool, and a core
handler that takes ``session: AsyncSession`` (upstream's signature) opens a fresh transaction on
its first query.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


class SessionMiddleware(BaseMiddleware):
    def __init__(self, session_maker: async_sessionmaker[AsyncSession]) -> None:
        self.session_maker = session_maker

    async def __call__(
        self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]], event: TelegramObject, data: dict[str, Any]
    ) -> Any:
        async with self.session_maker() as session:
            data["session"] = session
            try:
                result = await handler(event, data)
            except BaseException:
                await session.rollback()
                raise
            await session.commit()
            return result


class ReleaseBeforeRouting(BaseMiddleware):
    """The last outer middleware: commit what the checks did, so routing starts with no connection held."""

    async def __call__(
        self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]], event: TelegramObject, data: dict[str, Any]
    ) -> Any:
        session = data.get("session")
        if isinstance(session, AsyncSession) and session.in_transaction():
            await session.commit()
        return await handler(event, data)
