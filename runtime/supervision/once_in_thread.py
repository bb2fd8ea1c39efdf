"""A blocking check run once, in a worker thread, by the first task that needs its answer.

Modules start concurrently and each may need the same answer (can this host set up mount
views?). The first caller runs the check in a thread, inside its own task, so the run has an
owner; the others wait on the lock and take the answer. A caller cancelled while the check runs
waits for the thread to finish (it cannot be interrupted) and keeps no answer: the next caller
runs it again. No task is created, so none can outlive the callers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, TypeVar

import anyio

T = TypeVar("T")


class OnceInThread(Generic[T]):
    def __init__(self, check: Callable[[], T]) -> None:
        self._check = check
        self._lock = asyncio.Lock()
        self._answer: tuple[T] | None = None

    @property
    def known(self) -> bool:
        return self._answer is not None

    async def get(self) -> tuple[T, bool]:
        """The check's answer, and whether this call is the one that ran it."""
        async with self._lock:
            if self._answer is not None:
                return self._answer[0], False
            answer = await anyio.to_thread.run_sync(self._check)
            self._answer = (answer,)
            return answer, True
