"""``ModuleProcess``: the host's handle on one incarnation of one module process.

It owns the IPC peer, the heartbeat and the exit watch of that process, and knows how to stop
it: ask (``shutdown``), then ``SIGTERM``, then ``SIGKILL`` of the whole process group. Exit is
noticed through a pidfd, so a process that dies is seen at once even if a descendant still
holds its socket; the process is reaped here (the host is its subreaper), and whatever is left
in its process group is killed and reaped too, so nothing lingers as an orphan or a zombie.
Where the process has a cgroup of its own (``sandbox/containment``), every kill also kills the
whole cgroup, and once the process has exited the cgroup is emptied, its orphans reaped and the
cgroup removed (in a worker thread); an exit the kernel's OOM killer caused says so.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio

from ipc import PROTOCOL_VERSION, OutgoingCall, Peer, PeerClosed, ProtocolError, RemoteError
from runtime.aiogram_bridge.route_index import RouteIndex
from runtime.aiogram_bridge.telegram_codec import HOST_CODEC
from runtime.config import RuntimeConfig
from sandbox.containment.cgroup import ModuleCgroup, kill_and_remove
from sandbox.network.destinations import NetworkRules
from sandbox.network.supervisor import NetworkSupervisor

from .manifest import Manifest
from .zygote_client import ForkServer

log = logging.getLogger("solobot.runtime")

REAP_ATTEMPTS = 200  # x REAP_RETRY: how long an exited process may take to become ours
REAP_RETRY = 0.001

HostHandler = Callable[[str, str, Any], Awaitable[Any]]  # (module, method, params) -> result
NotifyHandler = Callable[[str, str, Any], None]  # (module, method, params)


@dataclass(frozen=True)
class ExitInfo:
    """How a module process ended. ``expected`` is true when the host asked it to."""

    reason: str
    returncode: int | None
    signal: int | None
    expected: bool


class ModuleLoadError(Exception):
    """A module process could not be started: its import failed, or it broke the handshake."""

    def __init__(self, module: str, message: str, traceback: str = "") -> None:
        super().__init__(f"module {module}: {message}")
        self.module = module
        self.message = message
        self.traceback = traceback


class ModuleProcess:
    def __init__(self, module: str, pid: int, config: RuntimeConfig, cgroup: ModuleCgroup | None = None) -> None:
        self.module = module
        self.pid = pid
        self.config = config
        self.cgroup = cgroup
        self.cgroup_released: asyncio.Future[list[int]] | None = None  # done when the cgroup is gone
        self.peer: Peer | None = None
        self.manifest: Manifest | None = None
        self.routes = RouteIndex({})
        self.sandbox_layers: list[str] = []  # reported by the process before it imported the module
        self.network: NetworkSupervisor | None = None  # checks its connects by address (sandbox/network/)
        self.started_at = time.time()
        self.exited: asyncio.Future[ExitInfo] = asyncio.get_running_loop().create_future()
        self._kill_reason: str | None = None
        self._expected = False
        self._pidfd = os.pidfd_open(pid)
        asyncio.get_running_loop().add_reader(self._pidfd, self._on_pidfd_readable)

    # --------------------------------------------------------------- starting

    @classmethod
    async def spawn(
        cls,
        zygote: ForkServer,
        module: str,
        modules_dir: str,
        config: RuntimeConfig,
        on_request: HostHandler,
        on_notify: NotifyHandler,
        init_params: dict[str, Any] | None = None,
        sandbox: dict[str, Any] | None = None,
        cgroup: ModuleCgroup | None = None,
        network: NetworkRules | None = None,
    ) -> ModuleProcess:
        """Fork a process for ``module`` and complete the handshake (its import included).

        ``cgroup``: the one ``sandbox`` names for it; from here on this process owns (and removes) it.
        ``network``: what it may connect to, checked by a :class:`NetworkSupervisor` of its own.
        """
        host_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        supervisor_end, handover = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM) if network else (None, None)
        try:
            pid = await zygote.fork(module, modules_dir, child_end, sandbox, handover)
        except BaseException:
            host_end.close()
            if supervisor_end is not None:
                supervisor_end.close()
            if cgroup is not None:  # a process forked all the same (a cancelled request) dies with it
                asyncio.get_running_loop().run_in_executor(None, kill_and_remove, cgroup)
            raise
        finally:
            child_end.close()
            if handover is not None:
                handover.close()
        supervisor = None
        if network is not None and supervisor_end is not None:
            supervisor = NetworkSupervisor(module, network, supervisor_end)
            supervisor.start()
        try:
            proc = cls(module, pid, config, cgroup)
            proc.network = supervisor
        except BaseException as exc:  # no pidfd (out of descriptors?): nothing of the process may linger
            if supervisor is not None:
                supervisor.stop()
            host_end.close()
            if not isinstance(exc, ProcessLookupError):  # alive and not reaped: its pid is still its own
                _killpg(pid, signal.SIGKILL)
                _reap_group_later(asyncio.get_running_loop(), pid)
            if cgroup is not None:
                asyncio.get_running_loop().run_in_executor(None, kill_and_remove, cgroup)
            raise
        try:
            proc.peer = await Peer.connect(
                host_end,
                f"module {module}",
                lambda method, params: on_request(module, method, params),
                lambda method, params: proc._on_notify(on_notify, method, params),
                max_frame=config.max_frame,
                codec=HOST_CODEC,
            )
        except BaseException:  # the channel never came up: kill and reap the process, close its pidfd
            host_end.close()
            proc._expected = True
            proc.kill("its channel could not be connected")
            await asyncio.shield(proc.exited)
            raise
        proc.peer.closed.add_done_callback(proc._on_peer_closed)
        try:
            await proc._handshake(init_params or {})
        except BaseException:
            await proc.terminate("handshake failed")
            raise
        return proc

    def _on_notify(self, forward: NotifyHandler, method: str, params: Any) -> None:
        if method == "sandbox":
            # Only the report sent before the handshake counts: after it, module code is running.
            if self.manifest is None and not self.sandbox_layers and isinstance(params, dict):
                layers = params.get("layers")
                if isinstance(layers, list) and all(isinstance(x, str) for x in layers):
                    self.sandbox_layers = [x[:300] for x in layers[:20]]
            return
        forward(self.module, method, params)

    async def _handshake(self, init_params: dict[str, Any]) -> None:
        """``init`` carries what the module process is entitled to (bot id, its database URL, settings)."""
        assert self.peer is not None
        params = {**init_params, "protocol": PROTOCOL_VERSION, "module": self.module, "drain_timeout": self.config.stop_grace}
        try:
            raw = await self.peer.request("init", params, timeout=self.config.start_timeout)
            self.manifest = Manifest.from_wire(raw, self.module)
            self.routes = RouteIndex.from_wire(self.manifest.routes)
        except RemoteError as exc:
            raise ModuleLoadError(self.module, exc.message, exc.traceback) from None
        except ProtocolError as exc:
            self.kill(f"protocol error in handshake: {exc}")
            raise ModuleLoadError(self.module, f"protocol error in handshake: {exc}") from None
        except TimeoutError:
            raise ModuleLoadError(self.module, f"no handshake within {self.config.start_timeout} s") from None
        except PeerClosed:
            info = await self.exited
            raise ModuleLoadError(self.module, f"the process {info.reason} while importing the module") from None

    # ---------------------------------------------------------------- serving

    @property
    def alive(self) -> bool:
        return not self.exited.done()

    def call(self, method: str, params: Any) -> OutgoingCall:
        if self.peer is None:
            raise PeerClosed("not connected")
        return self.peer.call(method, params)

    async def heartbeat(self) -> None:
        """Ping until the process exits; a missed answer kills it. Owned by the supervisor."""
        interval, timeout = self.config.heartbeat_interval, self.config.heartbeat_timeout
        while self.alive and self.peer is not None:
            await anyio.sleep(interval)
            if not self.alive:
                return
            try:
                await self.peer.request("ping", None, timeout=timeout)
            except TimeoutError:
                self.kill(f"missed heartbeat (no answer within {timeout} s)")
                return
            except (PeerClosed, RemoteError):
                return

    # --------------------------------------------------------------- stopping

    def kill(self, reason: str) -> None:
        """SIGKILL the process group now; ``reason`` becomes the exit reason.

        Only while the process is alive: once it is reaped its pid (and group id) may belong to
        an unrelated process.
        """
        if not self.alive:
            return
        if self._kill_reason is None:
            self._kill_reason = reason
        _killpg(self.pid, signal.SIGKILL)
        self._kill_cgroup()

    def _kill_cgroup(self) -> None:
        """Everything in the process's cgroup too: what left its process group (a trusted module may)."""
        if self.cgroup is not None:
            asyncio.get_running_loop().run_in_executor(None, _quietly_kill, self.cgroup)

    async def drain(self, timeout: float) -> None:
        """Wait (at most ``timeout`` s) until every request the host sent this process is answered.

        A reload routes new updates to the new process at once; the old one finishes what it was
        handed before it is asked to stop, so no update is cut off mid-way by the switch.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.alive and self.peer is not None and not self.peer.is_closed and self.peer.waiting_count:
            if loop.time() >= deadline:
                return
            await asyncio.sleep(0.01)

    async def terminate(self, reason: str = "stopped") -> ExitInfo:
        """Stop the process as the host asked for it: ask, then SIGTERM, then SIGKILL."""
        self._expected = True
        if self._kill_reason is None:
            self._kill_reason = reason
        if self.alive and self.peer is not None and not self.peer.is_closed:
            try:
                await self.peer.request("shutdown", None, timeout=self.config.stop_grace)
            except (TimeoutError, PeerClosed, RemoteError):
                pass
            await self._wait_exit(self.config.stop_grace)
        if self.alive:
            _killpg(self.pid, signal.SIGTERM)
            await self._wait_exit(self.config.term_grace)
        if self.alive:
            _killpg(self.pid, signal.SIGKILL)
            self._kill_cgroup()
        info = await self.exited
        if self.cgroup_released is not None:  # stopped means stopped: nothing of it left when this returns
            await asyncio.shield(self.cgroup_released)
        return info

    async def _wait_exit(self, timeout: float) -> None:
        with anyio.move_on_after(timeout):
            await asyncio.shield(self.exited)

    # ------------------------------------------------------------ exit watch

    def _on_peer_closed(self, _future: asyncio.Future[str]) -> None:
        # A closed channel means the process is of no further use: EOF, or a protocol error.
        if self.alive:
            assert self.peer is not None
            if self.peer.protocol_error:
                self.kill(f"protocol error: {self.peer.protocol_error}")
            elif not self._expected:
                self.kill(self.peer.close_reason or "channel closed")

    def _on_pidfd_readable(self) -> None:
        asyncio.get_running_loop().remove_reader(self._pidfd)
        # Kill what the module left behind in its group while the zombie still holds the pgid.
        _killpg(self.pid, signal.SIGKILL)
        self._collect(REAP_ATTEMPTS)

    def _collect(self, attempts: int) -> None:
        """Reap the exited process without blocking the loop, then report how it ended."""
        try:
            reaped, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            # Right after fork the process may still be the zygote's grandchild for a moment;
            # it becomes ours as soon as the intermediate exits: look again shortly.
            reaped, status = 0, 0
        loop = asyncio.get_running_loop()
        if not reaped and attempts > 0:
            loop.call_later(REAP_RETRY, self._collect, attempts - 1)
            return
        if not reaped:
            log.warning("could not reap module process %s", self.pid)
        os.close(self._pidfd)
        returncode = signum = None
        if reaped:
            if os.WIFSIGNALED(status):
                signum = os.WTERMSIG(status)
            else:
                returncode = os.waitstatus_to_exitcode(status)
        described = _describe(returncode, signum)
        # The kernel's OOM kill closes the channel first ("connection closed"): the cgroup knows better.
        if not self._expected and self.cgroup is not None and self.cgroup.oom_kills():
            self._kill_reason = (
                f"memory at the {self.cgroup.limits.memory_mb} MB limit of its memory cgroup: killed by the kernel's OOM killer"
            )
            log.warning("[module %s] %s", self.module, self._kill_reason)
        reason = f"{self._kill_reason} ({described})" if self._kill_reason else described
        if self.peer is not None:
            self.peer.close(f"process {described}")
        _reap_group_later(loop, self.pid)
        if self.network is not None:
            self.network.stop()  # a descendant that escaped the group gets no more connects
        if self.cgroup is not None:  # what is left in it (double forks included) dies; then it is removed
            self.cgroup_released = loop.run_in_executor(None, kill_and_remove, self.cgroup)
        self.exited.set_result(ExitInfo(reason, returncode, signum, self._expected))


def _describe(returncode: int | None, signum: int | None) -> str:
    if signum is not None:
        try:
            return f"killed by {signal.Signals(signum).name}"
        except ValueError:
            return f"killed by signal {signum}"
    if returncode is None:
        return "exited"
    return f"exited with code {returncode}"


def _quietly_kill(cgroup: ModuleCgroup) -> None:
    try:
        cgroup.kill()
    except OSError:
        pass  # removed meanwhile: nothing left to kill


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _reap_group_later(loop: asyncio.AbstractEventLoop, pgid: int, attempts: int = 20) -> None:
    """Reap descendants of a dead module that were re-parented to us (we are a subreaper)."""
    while True:
        try:
            result = os.waitid(os.P_PGID, pgid, os.WEXITED | os.WNOHANG)
        except ChildProcessError:
            return  # no children of ours left in that group
        if result is None:
            break  # some are still dying
    if attempts > 0:
        loop.call_later(0.05, _reap_group_later, loop, pgid, attempts - 1)
