"""The host side of module FSM storage: what one module may park in the host's storage is bounded,
and each module sees only its own namespace — with the memory storage (one worker) and with Redis
(every worker: a real redis-server, ``tests/redis_fixtures.py``), the same tests for both."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.base import BaseStorage, StorageKey
from aiogram.fsm.storage.memory import MemoryStorage

from host.shared_state import FSM_TTL, make_shared_state
from ipc.codec import encode
from runtime.aiogram_bridge.fsm_gateway import MAX_DATA, FSMGateway, FSMStorageLimit, held_bytes
from runtime.aiogram_bridge.fsm_quota import MAX_DATA_TOTAL, MAX_KEYS, FSMLedger, MemoryFSMLedger
from runtime.aiogram_bridge.fsm_quota_redis import RedisFSMLedger

pytestmark = pytest.mark.anyio

BOT = 42


def key(user: int) -> list[object]:
    return [BOT, user, user, None, None, "default"]


@dataclass
class Backend:
    """One worker's FSM storage and quota ledger: memory, or a Redis shared with other "workers"."""

    name: str
    storage: BaseStorage
    redis: Any = None  # the Redis client of the storage (None: memory)

    def ledger(self, max_keys: int = MAX_KEYS, max_total: int = MAX_DATA_TOTAL) -> FSMLedger:
        if self.redis is None:
            return MemoryFSMLedger(max_keys, max_total)
        return RedisFSMLedger(
            self.redis, f"solobot:{BOT}:fsm_quota:", ttl_seconds=FSM_TTL, max_keys=max_keys, max_total=max_total
        )

    def gateway(self, **limits: int) -> FSMGateway:
        return FSMGateway(self.storage, BOT, self.ledger(**limits))

    async def records(self) -> int:
        """How many records (states, data) the storage holds."""
        if isinstance(self.storage, MemoryStorage):
            return len(self.storage.storage)
        return len(await self.redis.keys("solobot:fsm:*"))


@pytest.fixture(params=["memory", "redis"])
async def backend(request: pytest.FixtureRequest, redis_url: str) -> AsyncIterator[Backend]:
    if request.param == "memory":
        yield Backend("memory", MemoryStorage())
        return
    shared = make_shared_state(redis_url, BOT)
    try:
        yield Backend("redis", shared.fsm_storage, shared.redis)
    finally:
        await shared.fsm_storage.close()


async def test_data_per_key_is_capped_and_the_error_names_the_limit(backend: Backend) -> None:
    gateway = backend.gateway()
    await gateway.call("m", {"op": "set_data", "key": key(1), "value": {"blob": "x" * (MAX_DATA - 1000)}})
    with pytest.raises(FSMStorageLimit, match="over 256 KiB of the host's memory"):
        await gateway.call("m", {"op": "set_data", "key": key(2), "value": {"blob": "x" * (1024 * 1024)}})
    with pytest.raises(FSMStorageLimit, match="at most 4096 characters"):
        await gateway.call("m", {"op": "set_state", "key": key(2), "value": "s" * 5000})
    assert await backend.records() == 1


async def test_distinct_keys_per_module_are_capped_and_clearing_frees_them(backend: Backend) -> None:
    gateway = backend.gateway(max_keys=3)
    for user in range(3):
        await gateway.call("m", {"op": "set_state", "key": key(user), "value": "Form:name"})
    with pytest.raises(FSMStorageLimit, match="3 different keys"):
        await gateway.call("m", {"op": "set_data", "key": key(3), "value": {"a": 1}})
    await gateway.call("other", {"op": "set_state", "key": key(3), "value": "x"})  # per module
    await gateway.call("m", {"op": "set_data", "key": key(0), "value": {"a": 1}})  # a key it holds: fine
    await gateway.call("m", {"op": "set_state", "key": key(1), "value": None})  # clearing is always allowed
    await gateway.call("m", {"op": "set_state", "key": key(3), "value": "y"})  # key 1 no longer counts
    # Reads and clears of keys nobody holds add nothing to the host's memory storage.
    before = await backend.records()
    for user in range(100, 200):
        assert await gateway.call("m", {"op": "get_state", "key": key(user)}) is None
        assert await gateway.call("m", {"op": "get_data", "key": key(user)}) == {}
        await gateway.call("m", {"op": "set_data", "key": key(user), "value": {}})
    assert await backend.records() == before


async def test_data_over_all_keys_of_a_module_is_capped(backend: Backend) -> None:
    gateway = backend.gateway(max_total=10_000)
    await gateway.call("m", {"op": "set_data", "key": key(1), "value": {"b": "x" * 5000}})
    with pytest.raises(FSMStorageLimit, match="over all its keys"):
        await gateway.call("m", {"op": "set_data", "key": key(2), "value": {"b": "x" * 5000}})
    await gateway.call("m", {"op": "set_data", "key": key(1), "value": {"b": "x" * 2000}})  # shrinking frees room
    await gateway.call("m", {"op": "set_data", "key": key(2), "value": {"b": "x" * 5000}})


async def test_quotas_count_the_objects_the_host_holds_not_the_encoded_bytes(backend: Backend) -> None:
    """100 000 empty lists are 100 KB of msgpack but ~5.6 MB of Python objects in the host."""
    gateway = backend.gateway()
    bomb = {"x": [[] for _ in range(100_000)]}
    assert len(encode(bomb)) < MAX_DATA < held_bytes(bomb)
    with pytest.raises(FSMStorageLimit, match="host's memory"):
        await gateway.call("m", {"op": "set_data", "key": key(1), "value": bomb})
    assert await backend.records() == 0


def core_key(user: int) -> StorageKey:
    return StorageKey(BOT, user, user)


async def test_a_module_sees_only_its_own_namespace_whatever_key_it_sends(backend: Backend) -> None:
    storage = backend.storage
    gateway = backend.gateway()
    await storage.set_state(core_key(7), "CoreForm:amount")  # the core's conversation with user 7
    await storage.set_data(core_key(7), {"coupon": "SECRET"})
    await gateway.call("victim", {"op": "set_state", "key": key(7), "value": "Victim:step"})
    await gateway.call("victim", {"op": "set_data", "key": key(7), "value": {"victim": "private"}})
    # The attacker forges the core's key, the victim's key, and destinies of every shape.
    for destiny in ("default", "solobot.module:victim:default", "victim:default", ""):
        forged = [BOT, 7, 7, None, None, destiny]
        assert await gateway.call("attacker", {"op": "get_state", "key": forged}) is None
        assert await gateway.call("attacker", {"op": "get_data", "key": forged}) == {}
        await gateway.call("attacker", {"op": "set_state", "key": forged, "value": "Attacker:hijack"})
        await gateway.call("attacker", {"op": "set_data", "key": forged, "value": {"coupon": "FORGED"}})
    assert await storage.get_state(core_key(7)) == "CoreForm:amount"
    assert await storage.get_data(core_key(7)) == {"coupon": "SECRET"}
    assert await gateway.call("victim", {"op": "get_state", "key": key(7)}) == "Victim:step"
    assert await gateway.call("victim", {"op": "get_data", "key": key(7)}) == {"victim": "private"}
    # What the attacker wrote is its own, and routing reads each module's own state.
    assert await gateway.call("attacker", {"op": "get_state", "key": key(7)}) == "Attacker:hijack"
    assert await gateway.module_state("victim", core_key(7)) == "Victim:step"
    assert await gateway.module_state("attacker", core_key(7)) == "Attacker:hijack"
    with pytest.raises(PermissionError, match="names bot 43"):
        await gateway.call("attacker", {"op": "get_state", "key": [BOT + 1, 7, 7, None, None, "default"]})


async def test_the_state_the_host_passes_is_lent_for_that_call_only(backend: Backend) -> None:
    """Upstream's pay flow: the core passes ``state`` and the module reads the tariff the core stored."""
    storage = backend.storage
    gateway = backend.gateway()
    await storage.set_data(core_key(9), {"plan": "month"})
    core_state = FSMContext(storage, core_key(9))
    with gateway.lend_state_of({"state": core_state}, ["payer"]):
        assert await gateway.call("payer", {"op": "get_data", "key": key(9)}) == {"plan": "month"}
        assert await gateway.call("other", {"op": "get_data", "key": key(9)}) == {}  # lent to "payer" only
        assert await gateway.call("payer", {"op": "get_data", "key": key(10)}) == {}  # that key only
    assert await gateway.call("payer", {"op": "get_data", "key": key(9)}) == {}  # the call is over


async def test_the_core_clearing_a_users_state_ends_the_modules_conversations_with_them(backend: Backend) -> None:
    """Upstream has one state per user: /start (the core's state.clear()) ends a module's flow too."""
    from aiogram import Bot

    from runtime.aiogram_bridge.core_fsm_storage import CoreFSMStorage
    from runtime.aiogram_bridge.host_services import HostServices

    storage = CoreFSMStorage(backend.storage)
    services = HostServices(bot=Bot(f"{BOT}:TEST"), fsm_storage=storage, fsm_ledger=backend.ledger())  # no request is made
    gateway = services.fsm_gateway
    assert gateway is not None
    for user in (7, 8):
        await gateway.call("victim", {"op": "set_state", "key": key(user), "value": "Victim:step"})
    await FSMContext(storage, core_key(7)).clear()  # the core's /start for user 7
    assert await gateway.module_state("victim", core_key(7)) is None
    assert await gateway.module_state("victim", core_key(8)) == "Victim:step"  # other users' untouched
