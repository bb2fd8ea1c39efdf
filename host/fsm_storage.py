"""The host's FSM storage: aiogram's memory storage, or Redis when ``REDIS_URL`` is set.

Redis keys include the destiny: each module's FSM lives under a destiny of its own
(``runtime.aiogram_bridge.fsm_keys.module_key``), which aiogram's default key builder would
drop, folding every module's states into the core's. (Conversations in flight when a bot
upgrades from a version without it start over once.)
"""

from __future__ import annotations

from aiogram.fsm.storage.base import BaseStorage
from aiogram.fsm.storage.memory import MemoryStorage


class StorageUnavailable(RuntimeError):
    pass


def make_storage(redis_url: str | None) -> BaseStorage:
    if not redis_url:
        return MemoryStorage()
    try:
        from aiogram.fsm.storage.redis import RedisStorage
    except ImportError:
        raise StorageUnavailable(
            "REDIS_URL is set but the 'redis' package is not installed: pip install 'solobot-runtime[redis]'"
        ) from None
    from aiogram.fsm.storage.base import DefaultKeyBuilder

    return RedisStorage.from_url(redis_url, key_builder=DefaultKeyBuilder(with_destiny=True))
