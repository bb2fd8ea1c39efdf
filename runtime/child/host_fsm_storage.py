"""aiogram FSM storage whose data lives in the host.

A module's ``StatesGroup``s and ``FSMContext`` work as usual; every read and write goes to the
host's storage (memory, or Redis when the bot runs as several workers), so the host knows each
user's state when it decides which module an update may be for, and a module restarted
mid-conversation finds the conversation where it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, StateType, StorageKey

from ipc import Peer
from runtime.aiogram_bridge.fsm_keys import key_to_wire


class HostFSMStorage(BaseStorage):
    def __init__(self, peer: Peer) -> None:
        self._peer = peer

    async def _call(self, op: str, key: StorageKey, value: Any = None) -> Any:
        return await self._peer.request("fsm", {"op": op, "key": key_to_wire(key), "value": value})

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        await self._call("set_state", key, state.state if isinstance(state, State) else state)

    async def get_state(self, key: StorageKey) -> str | None:
        return await self._call("get_state", key)

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        await self._call("set_data", key, dict(data))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        return await self._call("get_data", key) or {}

    async def close(self) -> None:
        return None
