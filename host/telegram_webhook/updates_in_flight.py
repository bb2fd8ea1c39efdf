"""``UpdatesInFlight``: the updates this worker took from Telegram and has not finished handling.

Each update is handled as a task owned here (never a bare ``create_task``), counted from the
moment the request is accepted to the moment its handlers return — also when that outlives the
webhook answer (a handler slower than Telegram's patience keeps running here). A graceful
stop calls :meth:`drain`: new updates are refused from then on (Telegram, or the load balancer,
delivers them again elsewhere) and the ones in hand get a bounded time to finish.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from runtime.supervision.task_owner import OwnedTask, TaskOwner


class UpdatesInFlight:
    def __init__(self) -> None:
        self._tasks = TaskOwner("updates")
        self._count = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._accepting = True

    @property
    def count(self) -> int:
        """Updates accepted and still being handled."""
        return self._count

    @property
    def accepting(self) -> bool:
        """False once a drain began: new updates are refused so that another worker takes them."""
        return self._accepting

    def spawn(self, handling: Coroutine[Any, Any, Any], update_id: int) -> OwnedTask:
        """Handle one update as an owned task, counted until it ends (raises after :meth:`drain` began)."""
        if not self._accepting:
            handling.close()
            raise RuntimeError("updates are being drained: no new update is taken")
        self._count += 1
        self._idle.clear()
        return self._tasks.spawn(self._counted(handling), f"update-{update_id}")

    async def _counted(self, handling: Coroutine[Any, Any, Any]) -> None:
        try:
            await handling
        finally:
            self._count -= 1
            if self._count == 0:
                self._idle.set()

    async def drain(self, timeout: float) -> int:
        """Stop taking updates, wait up to ``timeout`` seconds for those in hand; how many are still running."""
        self._accepting = False
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            pass
        return self._count

    async def aclose(self) -> None:
        """Stop taking updates and cancel the ones still running (after a drain, the ones past its bound)."""
        self._accepting = False
        await self._tasks.aclose()
