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
import socket
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from runtime.supervision.zygote_client import Zygote

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
        request = asyncio.run_coroutine_threadsafe(
            self._zygote.fork(module, modules_dir, channel, sandbox, network_handover), self._loop
        )
        return await asyncio.wrap_future(request)

    def close(self) -> None:
        try:
            self._run(self._zygote.aclose())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()
