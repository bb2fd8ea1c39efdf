"""What each module holds in the host's FSM storage, counted against its quota (``fsm_gateway``).

A ledger records, per module, the keys it wrote something under and the bytes of its state and
data there (as the host holds them). A write that would take a module past ``max_keys``
distinct keys or ``max_total`` bytes over all of them is refused; clearing a key entirely
removes it from the ledger. ``MemoryFSMLedger`` counts in this process (memory FSM storage,
one worker); ``fsm_quota_redis.RedisFSMLedger`` counts in Redis beside the Redis FSM storage, so
two workers cannot each grant a module its whole quota.
"""

from __future__ import annotations

from typing import Protocol

from aiogram.fsm.storage.base import StorageKey

from .fsm_keys import module_key

MAX_KEYS = 10_000  # distinct keys one module has written
MAX_DATA_TOTAL = 32 * 1024 * 1024  # bytes of data over all of one module's keys


class FSMStorageLimit(ValueError):
    """A module's FSM write over one of the limits."""


def too_many_keys(module: str, max_keys: int) -> FSMStorageLimit:
    return FSMStorageLimit(
        f"module {module} holds FSM state or data under {max_keys} different keys (the limit): "
        "clear the keys of finished conversations (state None, data {}) before using new ones"
    )


def too_much_data(module: str, max_total: int) -> FSMStorageLimit:
    return FSMStorageLimit(
        f"module {module}'s FSM data would exceed {max_total / (1024 * 1024):g} MiB over all its keys "
        "(the limit): clear the data of finished conversations"
    )


class FSMLedger(Protocol):
    async def admit(self, module: str, key: StorageKey, *, state: int | None = None, data: int | None = None) -> None:
        """Record a write of a state or data of so many bytes (0: cleared; None: unchanged); raise over a limit."""
        ...

    async def modules_with_state(self, key: StorageKey) -> list[str]:
        """The modules holding a state in their own namespace for the chat and user of ``key``."""
        ...


class _ModuleLedger:
    def __init__(self) -> None:
        self.keys: dict[StorageKey, tuple[int, int]] = {}  # key → (state bytes, data bytes)
        self.total = 0


class MemoryFSMLedger:
    """A key both of whose parts the module cleared is forgotten, so ``max_keys`` bounds the keys in
    use (this map included), not every user the module ever served."""

    def __init__(self, max_keys: int = MAX_KEYS, max_total: int = MAX_DATA_TOTAL) -> None:
        self.max_keys = max_keys
        self.max_total = max_total
        self._modules: dict[str, _ModuleLedger] = {}

    async def admit(self, module: str, key: StorageKey, *, state: int | None = None, data: int | None = None) -> None:
        ledger = self._modules.setdefault(module, _ModuleLedger())
        had_state, had_data = ledger.keys.get(key, (0, 0))
        has_state = had_state if state is None else state
        has_data = had_data if data is None else data
        if not has_state and not has_data:
            if ledger.keys.pop(key, None) is not None:
                ledger.total -= had_state + had_data
            return
        if key not in ledger.keys and len(ledger.keys) >= self.max_keys:
            raise too_many_keys(module, self.max_keys)
        if ledger.total - had_state - had_data + has_state + has_data > self.max_total:
            raise too_much_data(module, self.max_total)
        ledger.keys[key] = (has_state, has_data)
        ledger.total += has_state + has_data - had_state - had_data

    async def modules_with_state(self, key: StorageKey) -> list[str]:
        return [module for module, ledger in self._modules.items() if ledger.keys.get(module_key(module, key), (0, 0))[0]]
