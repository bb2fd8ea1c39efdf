"""The host's FSM storage: aiogram's memory storage, or Redis when ``REDIS_URL`` is set."""

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
    return RedisStorage.from_url(redis_url)
