"""aiogram's Redis FSM storage, its outages logged once and raised as one error the bot answers.

Without its state a conversation cannot go on, so while Redis is unreachable every FSM call fails
(**fail-closed**): the core's update ends in ``SharedStateUnavailable`` — the core answers the user
to try again later (``middlewares.outage``) instead of logging a traceback per update — and a
module's FSM call raises it in the module. One warning when the outage begins, one line when Redis
answers again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar

from aiogram.fsm.storage.base import BaseStorage, StateType, StorageKey

from .outage import OutageLog, SharedStateUnavailable
from .redis_connection import redis_errors

T = TypeVar("T")


class OutageObservedStorage(BaseStorage):
    def __init__(self, storage: BaseStorage) -> None:
        self.storage = storage
        self.outage = OutageLog("FSM storage", "updates and module FSM calls that need a state fail (users are asked to retry)")
        self._errors = redis_errors()

    async def _observed(self, call: Awaitable[T]) -> T:
        try:
            result = await call
        except self._errors as exc:
            self.outage.failed(exc)
            raise SharedStateUnavailable(f"the FSM storage (Redis) is unreachable: {type(exc).__name__}: {exc}") from exc
        self.outage.recovered()
        return result

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        await self._observed(self.storage.set_state(key, state))

    async def get_state(self, key: StorageKey) -> str | None:
        return await self._observed(self.storage.get_state(key))

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        await self._observed(self.storage.set_data(key, data))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        return await self._observed(self.storage.get_data(key))

    async def close(self) -> None:
        await self.storage.close()
