"""``TaskOwner``: a named owner for background tasks (restart timers, exit watches, polling).

Every task spawned here runs inside one anyio task group, held open by the owner's own task
until ``aclose()`` cancels the group and waits for every task to end: no task outlives its
owner, and none is left unawaited. Unlike a bare task group, one task's failure is logged
rather than cancelling its siblings (one module's supervisor must never take the others down),
and tasks can be spawned from plain callbacks (a pidfd reader noticing that the zygote died)
and the owner closed from any task — the group itself is entered and left by the holder task,
as anyio requires.

``spawn`` returns an ``OwnedTask``: cancel it alone, or wait until it has finished.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

import anyio
from anyio.abc import TaskGroup

log = logging.getLogger("solobot.runtime")


class OwnedTask:
    """One task of a ``TaskOwner``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.scope = anyio.CancelScope()
        self._finished = asyncio.Event()

    def cancel(self) -> None:
        self.scope.cancel()

    def done(self) -> bool:
        return self._finished.is_set()

    async def wait(self) -> None:
        await self._finished.wait()


class TaskOwner:
    def __init__(self, name: str) -> None:
        self.name = name
        self._closed = False
        self._group: TaskGroup | None = None
        self._holder: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()
        self._pending: list[tuple[Coroutine[Any, Any, Any], OwnedTask]] = []

    @property
    def closed(self) -> bool:
        return self._closed

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> OwnedTask:
        if self._closed:
            coro.close()
            raise RuntimeError(f"{self.name} is closed")
        task = OwnedTask(f"{self.name}:{name}")
        if self._group is None:
            self._pending.append((coro, task))
            if self._holder is None:
                self._holder = asyncio.get_running_loop().create_task(self._hold(), name=f"{self.name}:owner")
        else:
            self._group.start_soon(self._run, coro, task, name=task.name)
        return task

    async def _hold(self) -> None:
        async with anyio.create_task_group() as group:
            self._group = group
            for coro, task in self._pending:
                group.start_soon(self._run, coro, task, name=task.name)
            self._pending.clear()
            await self._closing.wait()
            group.cancel_scope.cancel()

    @staticmethod
    async def _run(coro: Coroutine[Any, Any, Any], task: OwnedTask) -> None:
        try:
            with task.scope:
                await coro
        except Exception:
            log.exception("task %s failed", task.name)
        finally:
            coro.close()  # never started (cancelled first): no "never awaited" warning
            task._finished.set()

    async def aclose(self) -> None:
        self._closed = True
        for coro, task in self._pending:
            coro.close()
            task._finished.set()
        self._pending.clear()
        self._closing.set()
        if self._holder is not None:
            await self._holder
