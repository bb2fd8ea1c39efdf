"""The side panel's data and buttons: module statuses and start/stop/restart/reload.

The panel shows each module's memory as USS (what only its process holds; RSS would count the
pages it shares with the zygote). ``ModuleRuntime.status_with_usage()`` reads it from /proc
(smaps) in a worker thread, which still costs milliseconds per module, so every event stream
asking once a second would add up with a few tabs open: one cached snapshot per ``max_age``
serves them all (one refresh at a time). An operator action drops the cache and wakes the
streams at once, so the panel shows the new state without waiting for the next tick.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from runtime import ModuleRuntime, Operation, UnknownModuleError

from .views import module_view

log = logging.getLogger("solobot.webchat")


class ModuleActionError(Exception):
    """An action the runtime refused; the message is shown to the operator as is."""


class ModulePanel:
    def __init__(self, runtime: ModuleRuntime | None, on_change: Callable[[], None], max_age: float = 0.8) -> None:
        self.runtime = runtime
        self.on_change = on_change
        self.max_age = max_age
        self._cached: list[dict[str, Any]] = []
        self._cached_at = float("-inf")
        self._refreshing = asyncio.Lock()

    async def snapshot(self) -> list[dict[str, Any]]:
        if self.runtime is None:
            return []
        async with self._refreshing:
            now = time.monotonic()
            if now - self._cached_at >= self.max_age:
                self._cached = [module_view(status) for status in await self.runtime.status_with_usage()]
                self._cached_at = time.monotonic()
        return self._cached

    async def act(self, name: str, action: str) -> None:
        if self.runtime is None:
            raise ModuleActionError("модули не запущены")
        if action not in tuple(Operation):
            raise ModuleActionError(f"неизвестное действие {action!r}")
        if name not in self.runtime.module_names:
            raise ModuleActionError(f"нет модуля {name!r}")
        log.info("web chat: %s %s", action, name)
        try:
            result = await self.runtime.operate(name, Operation(action))
        except UnknownModuleError as exc:
            raise ModuleActionError(str(exc)) from None
        finally:
            self._cached_at = float("-inf")
            self.on_change()
        if not result.ok:
            raise ModuleActionError(f"module {name}: {result.error}")
