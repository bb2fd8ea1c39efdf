"""Serve module processes' FSM storage calls on the host's storage, each module in its own namespace.

Keys are validated and must name this bot; state is a string or null, data a map. The storage
is the host's own (aiogram's memory storage, or Redis), so a module's states are visible to the
host's update routing and survive a module restart.

Whatever ``StorageKey`` a module sends, the host reads and writes it under the module's own
destiny (``fsm_keys.module_key``): the core's states and data and those of other modules are
neither visible nor writable. Routing by state still works: the host asks the module's own
namespace (``module_state``) when a module's handler waits for a state. The one exception is
a key the *host* lends for a call it makes: a fast-flow handler or hook that the core passes
its ``state`` (upstream's pay flow reads the tariff the core stored) uses that exact key, for
that module and only while the call runs (``lend``). And as upstream has one state per user,
the core clearing a user's state (``/start``) ends the modules' conversations with that user
too (``end_module_conversations``, called by ``core_fsm_storage``; the ledger knows which
modules hold a state for that user — with Redis, whichever worker they were written on).

That storage is the host's memory (or its Redis), so what a module may park there is bounded
by what the host really holds: a state is at most ``MAX_STATE`` characters, one key's data at
most ``MAX_DATA`` bytes *as decoded Python objects* (``held_bytes``: a 1-byte msgpack ``[]``
is a 56-byte list in the host), and one module holds something under at most ``MAX_KEYS``
distinct keys, with at most ``MAX_DATA_TOTAL`` bytes of states and data in all (as last written
by that module; a key it cleared entirely no longer counts), counted by a ledger (``fsm_quota``:
in this process, or in Redis for every worker). A write over a limit raises in
the module's storage call; clearing (a null state, empty data) is always allowed. Reads and
clears of keys aiogram's memory storage does not hold are answered without touching it (its
defaultdict would add a record for each). The host's own use of the storage does not go
through here and is not limited.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.base import BaseStorage, StorageKey
from aiogram.fsm.storage.memory import MemoryStorage

from .fsm_keys import key_from_wire, module_key
from .fsm_quota import FSMLedger, FSMStorageLimit, MemoryFSMLedger

__all__ = ["MAX_DATA", "MAX_STATE", "FSMGateway", "FSMStorageLimit", "held_bytes"]

MAX_STATE = 4_096
MAX_DATA = 256 * 1024  # bytes the host holds (decoded objects), per key
MAX_KEY_ID = 256  # characters of a key's business_connection_id (Telegram's are far shorter)
MAX_OBJECTS = 100_000  # objects walked to measure one write (more is over MAX_DATA anyway)


def held_bytes(value: Any, limit: int = MAX_DATA) -> int:
    """What ``value`` costs the host as Python objects; stops counting once past ``limit``."""
    total, stack, seen = 0, [value], 0
    while stack and total <= limit:
        item = stack.pop()
        seen += 1
        if seen > MAX_OBJECTS:
            return limit + 1
        total += sys.getsizeof(item)
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return total


class FSMGateway:
    def __init__(self, storage: BaseStorage, bot_id: int, ledger: FSMLedger | None = None) -> None:
        self.storage = storage
        self.bot_id = bot_id
        self.ledger: FSMLedger = ledger if ledger is not None else MemoryFSMLedger()
        self._lent: Counter[tuple[str, StorageKey]] = Counter()

    @contextmanager
    def lend(self, modules: Iterable[str], key: StorageKey) -> Iterator[None]:
        """While a host call runs, ``modules`` use the host's own ``key`` (the ``state`` the core passed them)."""
        leases = [(module, key) for module in modules]
        self._lent.update(leases)
        try:
            yield
        finally:
            self._lent.subtract(leases)
            for lease in leases:
                if self._lent[lease] <= 0:
                    del self._lent[lease]

    def lend_state_of(self, kwargs: dict[str, Any], modules: Iterable[str]) -> AbstractContextManager[None]:
        """Lend the key of an ``FSMContext`` the host passes in ``kwargs`` (``state=``), if any."""
        state = kwargs.get("state")
        return self.lend(modules, state.key) if isinstance(state, FSMContext) else nullcontext()

    async def end_module_conversations(self, key: StorageKey) -> None:
        """The core cleared this user's state (``/start``…): end the modules' conversations with them too."""
        for module in await self.ledger.modules_with_state(key):
            own = module_key(module, key)
            await self.ledger.admit(module, own, state=0)
            await self.storage.set_state(own, None)

    async def module_state(self, module: str, key: StorageKey) -> str | None:
        """The state ``module`` set for the chat and user of ``key`` (host routing; nothing is created)."""
        own = module_key(module, key)
        return None if self._absent(own) else await self.storage.get_state(own)

    async def call(self, module: str, request: Any) -> Any:
        if not isinstance(request, dict):
            raise ValueError("an FSM call is {op, key, value}")
        sent = key_from_wire(request.get("key"))
        if sent.bot_id != self.bot_id:
            raise PermissionError(f"FSM key names bot {sent.bot_id}, this bot is {self.bot_id}")
        op, value = request.get("op"), request.get("value")
        if sent.business_connection_id is not None and len(sent.business_connection_id) > MAX_KEY_ID:
            raise FSMStorageLimit(f"storage key business_connection_id longer than {MAX_KEY_ID} characters")
        key = sent if (module, sent) in self._lent else module_key(module, sent)
        if op == "get_state":
            return None if self._absent(key) else await self.storage.get_state(key)
        if op == "set_state":
            if value is not None and not (isinstance(value, str) and len(value) <= MAX_STATE):
                raise FSMStorageLimit(f"an FSM state is a string (at most {MAX_STATE} characters) or null")
            await self.ledger.admit(module, key, state=0 if value is None else sys.getsizeof(value))
            if value is not None or not self._absent(key):
                await self.storage.set_state(key, value)
            return None
        if op == "get_data":
            return {} if self._absent(key) else await self.storage.get_data(key)
        if op == "set_data":
            if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
                raise ValueError("FSM data is a map with string keys")
            size = held_bytes(value)
            if size > MAX_DATA:
                raise FSMStorageLimit(
                    f"FSM data for one key would hold over {MAX_DATA // 1024} KiB of the host's memory (the limit): "
                    "keep large data in the module's database schema or files"
                )
            await self.ledger.admit(module, key, data=size if value else 0)
            if value or not self._absent(key):
                await self.storage.set_data(key, value)
            return None
        raise ValueError(f"unknown FSM operation {op!r}")

    def _absent(self, key: StorageKey) -> bool:
        """A key aiogram's memory storage does not hold: reading it (a defaultdict) would add a record for it."""
        return isinstance(self.storage, MemoryStorage) and key not in self.storage.storage
