"""The host's FSM storage as the core's handlers use it.

Each module's FSM lives in a namespace of its own (``fsm_gateway``), but upstream has one state
per user: the core's ``/start`` (``state.clear()``) ends whatever conversation a module had
with that user, and modules are written for that (the module guide's "a back button to
``profile`` is a valid way out"). So when the core clears a user's state, the listeners — the
FSM gateway — end the modules' conversations with that chat and user too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiogram.fsm.storage.base import DEFAULT_DESTINY, BaseStorage, StateType, StorageKey

ClearListener = Callable[[StorageKey], Awaitable[None]]


class CoreFSMStorage(BaseStorage):
    def __init__(self, storage: BaseStorage) -> None:
        self.storage = storage
        self._listeners: list[ClearListener] = []

    def on_core_clear(self, listener: ClearListener) -> None:
        self._listeners.append(listener)

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        await self.storage.set_state(key, state)
        if state is None and key.destiny == DEFAULT_DESTINY:
            for listener in self._listeners:
                await listener(key)

    async def get_state(self, key: StorageKey) -> str | None:
        return await self.storage.get_state(key)

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        await self.storage.set_data(key, data)

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        return await self.storage.get_data(key)

    async def close(self) -> None:
        await self.storage.close()
