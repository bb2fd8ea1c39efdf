"""Serve module processes' FSM storage calls on the host's storage.

Keys are validated and must name this bot; state is a string or null, data a map. The storage
is the host's own (aiogram's memory storage, or Redis), so a module's states are visible to the
host's update routing and survive a module restart.
"""

from __future__ import annotations

from typing import Any

from aiogram.fsm.storage.base import BaseStorage

from .fsm_keys import key_from_wire

MAX_STATE = 4_096


class FSMGateway:
    def __init__(self, storage: BaseStorage, bot_id: int) -> None:
        self.storage = storage
        self.bot_id = bot_id

    async def call(self, module: str, request: Any) -> Any:
        if not isinstance(request, dict):
            raise ValueError("an FSM call is {op, key, value}")
        key = key_from_wire(request.get("key"))
        if key.bot_id != self.bot_id:
            raise PermissionError(f"FSM key names bot {key.bot_id}, this bot is {self.bot_id}")
        op, value = request.get("op"), request.get("value")
        if op == "get_state":
            return await self.storage.get_state(key)
        if op == "set_state":
            if value is not None and not (isinstance(value, str) and len(value) <= MAX_STATE):
                raise ValueError("an FSM state is a string (at most 4096 characters) or null")
            await self.storage.set_state(key, value)
            return None
        if op == "get_data":
            return await self.storage.get_data(key)
        if op == "set_data":
            if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
                raise ValueError("FSM data is a map with string keys")
            await self.storage.set_data(key, value)
            return None
        raise ValueError(f"unknown FSM operation {op!r}")
