"""The host's handle on the zygote: start it, ask it to fork, replace it when it dies."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Protocol

import anyio
import msgpack

from .abandoned_fork import kill_and_reap
from .environment import PROJECT_ROOT, module_environment

log = logging.getLogger("solobot.runtime")

READY_TIMEOUT = 120.0  # a cold interpreter importing aiogram takes seconds on a small machine
FORK_TIMEOUT = 10.0
EXIT_GRACE = 2.0  # seconds the zygote gets to exit on its own at shutdown


class ZygoteError(RuntimeError):
    """The zygote could not be started or could not fork."""


class ForkServer(Protocol):
    """What a runtime needs of a zygote: its pid, and a module process forked on request.

    :class:`Zygote` is the one a runtime starts for itself; a caller may pass in another that it
    owns and shares between runtimes (the test suite shares one per worker process).
    """

    @property
    def pid(self) -> int | None: ...

    async def fork(
        self,
        module: str,
        modules_dir: str,
        channel: socket.socket,
        sandbox: dict | None = None,
        network_handover: socket.socket | None = None,
    ) -> int: ...


class Zygote:
    """One zygote process, replaced when it dies.

    Its exit is watched through a pidfd: ``on_death`` (if given) is called at once so the owner
    can start a new one in the background; ``fork()`` also starts one if it finds it dead.
    """

    def __init__(self, on_death: Callable[[], None] | None = None) -> None:
        self.on_death = on_death
        self._proc: subprocess.Popen[bytes] | None = None
        self._pidfd: int | None = None
        self._control: socket.socket | None = None
        self._lock = asyncio.Lock()
        self._next_id = 0
        self.starts = 0
        self.ready_seconds: float | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    async def start(self) -> None:
        async with self._lock:
            await self._start_locked()

    async def ensure_started(self) -> None:
        """Start the zygote unless it is running (or starting: this waits for that start)."""
        async with self._lock:
            if not self.alive() or self._control is None:
                await self._start_locked()

    async def _start_locked(self) -> None:
        await self._discard()
        host_end, zygote_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        started = time.monotonic()
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "runtime.supervision.zygote", str(zygote_end.fileno()), str(os.getpid())],
                pass_fds=[zygote_end.fileno()],
                env=module_environment(),
                cwd=os.getcwd(),
                stdin=subprocess.DEVNULL,
            )
        finally:
            zygote_end.close()
        host_end.setblocking(False)
        self._control = host_end
        self._pidfd = os.pidfd_open(self._proc.pid)
        asyncio.get_running_loop().add_reader(self._pidfd, self._exited)
        self.starts += 1
        try:
            async with asyncio.timeout(READY_TIMEOUT):
                ready = await self._receive()
        except (TimeoutError, ZygoteError) as exc:
            await self._discard()
            raise ZygoteError(f"the zygote did not become ready: {exc or 'timeout'}") from None
        self.ready_seconds = time.monotonic() - started
        for failure in ready.get("preload_failed", ()):
            log.warning("[zygote] could not pre-import %s", failure)
        log.info("[zygote] ready: pid %s, %.2f s", self.pid, self.ready_seconds)

    async def fork(
        self,
        module: str,
        modules_dir: str,
        channel: socket.socket,
        sandbox: dict | None = None,
        network_handover: socket.socket | None = None,
    ) -> int:
        """Fork a module process that owns ``channel`` and confines itself with ``sandbox``; return its pid.

        ``network_handover``: where the process sends its seccomp listener (``sandbox/network/``).
        """
        async with self._lock:
            if not self.alive():
                if self._proc is not None:
                    log.warning("[zygote] pid %s died (%s); starting a new one", self.pid, self._proc.returncode)
                await self._start_locked()
            self._next_id += 1
            request = msgpack.packb({"id": self._next_id, "module": module, "modules_dir": modules_dir, "sandbox": sandbox})
            assert self._control is not None
            try:
                fds = [channel.fileno()] + ([network_handover.fileno()] if network_handover is not None else [])
                socket.send_fds(self._control, [request], fds)
                async with asyncio.timeout(FORK_TIMEOUT):
                    reply = await self._reply_to(self._next_id)
            except asyncio.CancelledError:
                # The request is out: the zygote forks all the same. Before the cancellation goes
                # on, wait for its answer (a fork takes milliseconds) and kill what it made.
                with anyio.CancelScope(shield=True), anyio.move_on_after(FORK_TIMEOUT):
                    try:
                        await self._abandon(await self._reply_to(self._next_id))
                    except (OSError, ZygoteError) as exc:  # the zygote died meanwhile: the next fork replaces it
                        log.warning("[zygote] no answer to an abandoned fork request: %s", exc)
                raise
            except (OSError, TimeoutError, ZygoteError) as exc:
                await self._discard()
                raise ZygoteError(f"fork of {module!r} failed: {exc or 'timeout'}") from None
            if reply.get("id") != self._next_id or "pid" not in reply:
                raise ZygoteError(f"fork of {module!r} failed: {reply.get('error', reply)}")
            return int(reply["pid"])

    async def _reply_to(self, request_id: int) -> dict:
        """The zygote's answer to ``request_id``; the process of any earlier answer still unread is killed."""
        reply = await self._receive()
        while _stale(reply, request_id):  # a fork whose abandoning could not wait for its answer
            await self._abandon(reply)
            reply = await self._receive()
        return reply

    async def _abandon(self, reply: dict) -> None:
        pid = reply.get("pid")
        if type(pid) is int and pid > 0:
            log.info("[zygote] killing pid %s: it was forked for a request whose caller gave up", pid)
            await kill_and_reap(pid, FORK_TIMEOUT)

    async def _receive(self) -> dict:
        """The zygote's next message.

        It waits for the socket to be readable and only then reads, so a caller cancelled while
        it waits has consumed nothing: the answer stays for the next read (``sock_recv`` could
        take it off the socket and lose it with the cancellation, and with it the pid to kill).
        """
        control = self._control
        assert control is not None
        while True:
            try:
                data = control.recv(65536)
                break
            except BlockingIOError:
                await _readable(control)
        if not data:
            raise ZygoteError("the zygote exited")
        return msgpack.unpackb(data)

    def _exited(self) -> None:
        self._unwatch()
        if self._control is not None:  # not a shutdown we asked for
            log.warning("[zygote] pid %s exited unexpectedly; running modules are unaffected", self.pid)
            if self.on_death is not None:
                self.on_death()

    def _unwatch(self) -> None:
        if self._pidfd is not None:
            asyncio.get_running_loop().remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None

    async def _discard(self) -> None:
        self._unwatch()
        if self._control is not None:
            self._control.close()
            self._control = None
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            await anyio.to_thread.run_sync(self._proc.wait)  # reaped off the event loop

    async def aclose(self) -> None:
        async with self._lock:
            self._unwatch()
            if self._control is not None:
                self._control.close()  # EOF tells the zygote to exit
                self._control = None
            if self._proc is not None:
                with anyio.move_on_after(EXIT_GRACE):
                    await anyio.to_thread.run_sync(self._proc.wait, abandon_on_cancel=True)
                if self._proc.poll() is None:
                    self._proc.kill()
                    await anyio.to_thread.run_sync(self._proc.wait)
                self._proc = None


async def _readable(sock: socket.socket) -> None:
    loop = asyncio.get_running_loop()
    ready = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(sock.fileno(), wake)
    try:
        await ready
    finally:
        loop.remove_reader(sock.fileno())


def _stale(reply: dict, expected_id: int) -> bool:
    answered = reply.get("id")
    return isinstance(answered, int) and answered < expected_id


__all__ = ["PROJECT_ROOT", "ForkServer", "Zygote", "ZygoteError"]
