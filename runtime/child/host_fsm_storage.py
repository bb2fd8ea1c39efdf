"""aiogram FSM storage whose data lives in the host.

A module's ``StatesGroup``s and ``FSMContext`` work as usual; every read and write goes to the
host's storage (memory, or Redis when the bot runs as several workers), so the host knows each
user's state when it decides which module an update may be for, and a module restarted
mid-conversation finds the conversation where it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar, Token
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, StateType, StorageKey

from ipc import Peer
from runtime.aiogram_bridge.fsm_keys import key_to_wire

# The state the host sent along with the update being handled (``[key, state]``): aiogram's FSM
# middleware asks for it on every update, and the host knew it already. Context-local, so each
# update (each its own task) sees only its own.
_sent_with_update: ContextVar[tuple[list[Any], str | None] | None] = ContextVar("sent_with_update", default=None)


class HostFSMStorage(BaseStorage):
    def __init__(self, peer: Peer) -> None:
        self._peer = peer

    @staticmethod
    def sent_with_update(key: list[Any], state: str | None) -> Token[tuple[list[Any], str | None] | None]:
        """Answer ``get_state(key)`` with ``state`` in this context, without asking the host."""
        return _sent_with_update.set((key, state))

    @staticmethod
    def forget_sent(token: Token[tuple[list[Any], str | None] | None]) -> None:
        _sent_with_update.reset(token)

    async def _call(self, op: str, key: StorageKey, value: Any = None) -> Any:
        return await self._peer.request("fsm", {"op": op, "key": key_to_wire(key), "value": value})

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        await self._call("set_state", key, value)
        sent = _sent_with_update.get()
        if sent is not None and sent[0] == key_to_wire(key):
            _sent_with_update.set((sent[0], value))

    async def get_state(self, key: StorageKey) -> str | None:
        sent = _sent_with_update.get()
        if sent is not None and sent[0] == key_to_wire(key):
            return sent[1]
        return await self._call("get_state", key)

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        await self._call("set_data", key, dict(data))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        return await self._call("get_data", key) or {}

    async def close(self) -> None:
        return None
