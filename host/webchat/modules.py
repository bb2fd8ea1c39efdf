"""The side panel's data and buttons: module statuses and start/stop/restart/reload.

``ModuleRuntime.status()`` reads each module process's memory from /proc (smaps), so every
event stream asking for it once a second would cost a lot with a few tabs open: one cached
snapshot per ``max_age`` serves them all. An operator action drops the cache and wakes the
streams at once, so the panel shows the new state without waiting for the next tick.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from runtime import ModuleLoadError, ModuleRuntime, UnknownModuleError

from .views import MODULE_ACTIONS, module_view

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

    def snapshot(self) -> list[dict[str, Any]]:
        if self.runtime is None:
            return []
        now = time.monotonic()
        if now - self._cached_at >= self.max_age:
            self._cached = [module_view(status) for status in self.runtime.status()]
            self._cached_at = now
        return self._cached

    async def act(self, name: str, action: str) -> None:
        if self.runtime is None:
            raise ModuleActionError("модули не запущены")
        if action not in MODULE_ACTIONS:
            raise ModuleActionError(f"неизвестное действие {action!r}")
        if name not in self.runtime.module_names:
            raise ModuleActionError(f"нет модуля {name!r}")
        log.info("web chat: %s %s", action, name)
        try:
            await getattr(self.runtime, action)(name)
        except (ModuleLoadError, UnknownModuleError) as exc:
            raise ModuleActionError(str(exc)) from None
        finally:
            self._cached_at = float("-inf")
            self.on_change()
