"""The host side of module FSM storage: what one module may park in the host's memory is bounded."""

from __future__ import annotations

import pytest
from aiogram.fsm.storage.memory import MemoryStorage

from runtime.aiogram_bridge import fsm_gateway
from runtime.aiogram_bridge.fsm_gateway import MAX_DATA, FSMGateway, FSMStorageLimit

pytestmark = pytest.mark.anyio

BOT = 42


def key(user: int) -> list[object]:
    return [BOT, user, user, None, None, "default"]


async def test_data_per_key_is_capped_and_the_error_names_the_limit() -> None:
    storage = MemoryStorage()
    gateway = FSMGateway(storage, BOT)
    await gateway.call("m", {"op": "set_data", "key": key(1), "value": {"blob": "x" * (MAX_DATA - 100)}})
    with pytest.raises(FSMStorageLimit, match="exceeds the 64 KiB limit"):
        await gateway.call("m", {"op": "set_data", "key": key(2), "value": {"blob": "x" * (1024 * 1024)}})
    with pytest.raises(FSMStorageLimit, match="at most 4096 characters"):
        await gateway.call("m", {"op": "set_state", "key": key(2), "value": "s" * 5000})
    assert len(storage.storage) == 1


async def test_distinct_keys_per_module_are_capped_and_clearing_frees_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fsm_gateway, "MAX_KEYS", 3)
    storage = MemoryStorage()
    gateway = FSMGateway(storage, BOT)
    for user in range(3):
        await gateway.call("m", {"op": "set_state", "key": key(user), "value": "Form:name"})
    with pytest.raises(FSMStorageLimit, match="3 different keys"):
        await gateway.call("m", {"op": "set_data", "key": key(3), "value": {"a": 1}})
    await gateway.call("other", {"op": "set_state", "key": key(3), "value": "x"})  # per module
    await gateway.call("m", {"op": "set_data", "key": key(0), "value": {"a": 1}})  # a key it holds: fine
    await gateway.call("m", {"op": "set_state", "key": key(1), "value": None})  # clearing is always allowed
    await gateway.call("m", {"op": "set_state", "key": key(3), "value": "y"})  # key 1 no longer counts
    # Reads and clears of keys nobody holds add nothing to the host's memory storage.
    before = len(storage.storage)
    for user in range(100, 200):
        assert await gateway.call("m", {"op": "get_state", "key": key(user)}) is None
        assert await gateway.call("m", {"op": "get_data", "key": key(user)}) == {}
        await gateway.call("m", {"op": "set_data", "key": key(user), "value": {}})
    assert len(storage.storage) == before


async def test_data_over_all_keys_of_a_module_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fsm_gateway, "MAX_DATA_TOTAL", 10_000)
    gateway = FSMGateway(MemoryStorage(), BOT)
    await gateway.call("m", {"op": "set_data", "key": key(1), "value": {"b": "x" * 6000}})
    with pytest.raises(FSMStorageLimit, match="over all its keys"):
        await gateway.call("m", {"op": "set_data", "key": key(2), "value": {"b": "x" * 6000}})
    await gateway.call("m", {"op": "set_data", "key": key(1), "value": {"b": "x" * 3000}})  # shrinking frees room
    await gateway.call("m", {"op": "set_data", "key": key(2), "value": {"b": "x" * 6000}})
