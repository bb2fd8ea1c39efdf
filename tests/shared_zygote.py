"""One real zygote per test process, lent to every runtime a test starts.

Starting a zygote costs about 4 CPU-seconds (importing aiogram builds hundreds of pydantic
models), which made it most of the suite's time when every test started its own. Each test
runs on its own event loop, and a :class:`Zygote` belongs to the loop it was started on (it
watches its pidfd there and talks to the zygote through it), so the shared one lives on a loop
of its own in a thread; a runtime on any test's loop forks through it.

The thread lives as long as the zygote: the zygote's parent-death signal fires when the thread
that started it exits, not the process.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from runtime.supervision.abandoned_fork import kill_and_reap
from runtime.supervision.zygote_client import FORK_TIMEOUT, Zygote

T = TypeVar("T")


class ThreadedZygote:
    """A :class:`Zygote` on its own loop and thread; a ``ForkServer`` for runtimes on any loop."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="shared-zygote", daemon=True)
        self._zygote = Zygote()  # no on_death: a fork finding it dead starts a new one

    @property
    def pid(self) -> int | None:
        return self._zygote.pid

    def start(self) -> ThreadedZygote:
        self._thread.start()
        self._run(self._zygote.start())
        return self

    async def fork(
        self,
        module: str,
        modules_dir: str,
        channel: socket.socket,
        sandbox: dict | None = None,
        network_handover: socket.socket | None = None,
    ) -> int:
        """:meth:`Zygote.fork` on the zygote's loop; a caller that gives up waits for it to give up too.

        The cancellation is handed to the fork's task there, where :meth:`Zygote.fork` kills the
        process it asked for before it ends. Cancelling the cross-thread future instead (what
        ``asyncio.wrap_future`` does) drops a pid whose answer had just come in: that process
        waited for an ``init`` nobody sends, and lived on after the test.
        """
        outcome: concurrent.futures.Future[int] = concurrent.futures.Future()
        forks: list[asyncio.Task[int]] = []

        def begin() -> None:  # on the zygote's loop
            fork = self._loop.create_task(self._zygote.fork(module, modules_dir, channel, sandbox, network_handover))
            fork.add_done_callback(lambda done: _settle(done, outcome))
            forks.append(fork)

        self._loop.call_soon_threadsafe(begin)
        try:
            return await asyncio.shield(asyncio.wrap_future(outcome))
        except asyncio.CancelledError:
            self._loop.call_soon_threadsafe(lambda: forks[0].cancel())  # after begin: callbacks run in order
            try:
                pid = await asyncio.shield(asyncio.wrap_future(outcome))
            except BaseException:  # cancelled there (the process is reaped) or failed: nothing to kill
                raise asyncio.CancelledError from None
            await kill_and_reap(pid, FORK_TIMEOUT)  # the answer came before the cancellation got there
            raise

    def close(self) -> None:
        try:
            self._run(self._zygote.aclose())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()


def _settle(fork: asyncio.Task[int], outcome: concurrent.futures.Future[int]) -> None:
    if fork.cancelled():
        outcome.cancel()
    elif (error := fork.exception()) is not None:
        outcome.set_exception(error)
    else:
        outcome.set_result(fork.result())
