"""``ModuleSupervisor``: the lifecycle of one module across its process incarnations.

States: ``starting`` → ``running``; an unexpected exit, a missed heartbeat, a protocol error
or too many hook timeouts in a row → ``crashed`` and a restart after an exponential backoff;
too many crashes within the window → ``quarantined`` (no more restarts until an operator
starts it); an import error on an explicit start → ``failed``; ``stopped`` by the operator
(persisted). Every transition is logged with its reason. Operations on one module are
serialized by a lock; different modules never wait for each other.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Any

import anyio
import psutil

from runtime.config import RuntimeConfig
from runtime.discovery import ModuleSpec

from .latency import LatencyWindow
from .manifest import Manifest
from .process import ModuleLoadError, ModuleProcess
from .state_store import StateStore
from .task_owner import TaskOwner
from .zygote_client import ZygoteError

log = logging.getLogger("solobot.runtime")

Launcher = Callable[[str], Awaitable[ModuleProcess]]


class ModuleState(StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    STOPPED = "stopped"
    CRASHED = "crashed"
    QUARANTINED = "quarantined"
    FAILED = "failed"


RESTARTED_AFTER_CRASH = "restarted after a crash"  # keeps last_error: why it had to restart


class ModuleSupervisor:
    def __init__(self, spec: ModuleSpec, launch: Launcher, config: RuntimeConfig, tasks: TaskOwner, store: StateStore) -> None:
        self.spec = spec
        self.name = spec.name
        self._launch = launch
        self.config = config
        self._tasks = tasks
        self._store = store
        self.state = ModuleState.STOPPED
        self.process: ModuleProcess | None = None
        self.last_manifest: Manifest | None = None  # kept while the module is down (its webhook path → 503)
        self.restarts = 0
        self.last_error: str | None = spec.problem
        # Read at discovery and at each launch (start, restart, reload), not by every status() call.
        self.version = spec.version()
        self.latency = LatencyWindow()
        self._crashes: deque[float] = deque()
        self._consecutive_timeouts = 0
        self._resting: dict[str, float] = {}  # hook → time.monotonic() until which it is not asked (it timed out)
        self._lock = asyncio.Lock()
        self._psutil: psutil.Process | None = None

    # ------------------------------------------------------------ operations

    @property
    def enabled(self) -> bool:
        return self._store.is_enabled(self.name)

    async def start(self, *, persist: bool = True) -> None:
        """Start (or un-quarantine) the module; raises ``ModuleLoadError`` if it cannot load."""
        async with self._lock:
            if persist:
                self._store.set_enabled(self.name, True)
            if self._serving_process() is not None:
                return
            self._crashes.clear()
            await self._launch_locked("started")

    async def stop(self) -> None:
        async with self._lock:
            self._store.set_enabled(self.name, False)
            await self._retire(self.process, "stopped by the operator")
            self.process = None
            self._transition(ModuleState.STOPPED, "stopped by the operator")

    async def restart(self) -> None:
        async with self._lock:
            self._store.set_enabled(self.name, True)
            await self._retire(self.process, "restart requested")
            self.process = None
            self._crashes.clear()
            self.restarts += 1
            await self._launch_locked("restarted by the operator")

    async def reload(self) -> None:
        """Start the module's current code, then retire the old process.

        If the new code fails, the old process keeps serving, ``last_error`` says why and
        ``ModuleLoadError`` is raised.
        """
        async with self._lock:
            self._store.set_enabled(self.name, True)
            old = self._serving_process()
            if old is None:
                self._crashes.clear()
                await self._launch_locked("reloaded")
                return
            version = await anyio.to_thread.run_sync(self.spec.version)  # shown once the new code serves
            try:
                new = await self._launch(self.name)
            except (ModuleLoadError, ZygoteError) as exc:
                self.last_error = _error_text(exc)
                log.error("[modules] %s: reload failed, the previous version keeps serving: %s", self.name, self.last_error)
                raise
            self._adopt(new, "reloaded", version)
            await old.drain(self.config.update_timeout)  # updates already handed to it finish there
            await self._retire(old, "replaced by a reload")

    # ---------------------------------------------------------------- hooks

    @property
    def running_process(self) -> ModuleProcess | None:
        """The process serving this module, if it is running."""
        process = self._serving_process()
        return process if process is not None and self.state is ModuleState.RUNNING else None

    def serves(self, hook: str) -> ModuleProcess | None:
        """The process to call for ``hook``, if this module is running, subscribed, and not resting
        that hook after a timeout (``RuntimeConfig.hook_rest_after_timeout``)."""
        process = self.running_process
        if process is None or not process.manifest or hook not in process.manifest.hooks:
            return None
        until = self._resting.get(hook)
        if until is not None:
            if time.monotonic() < until:
                return None
            del self._resting[hook]  # rested: the next call goes through
        return process

    def hook_succeeded(self, seconds: float) -> None:
        self._consecutive_timeouts = 0
        self.latency.record(seconds)

    def hook_failed(self, seconds: float) -> None:
        self._consecutive_timeouts = 0
        self.latency.record(seconds)
        self.latency.errors += 1

    def hook_timed_out(self, process: ModuleProcess, hook: str) -> None:
        self.latency.timeouts += 1
        self._consecutive_timeouts += 1
        if self._consecutive_timeouts >= self.config.timeouts_before_restart and process is self.process:
            self._consecutive_timeouts = 0
            process.kill(f"{self.config.timeouts_before_restart} hook timeouts in a row (last: {hook})")
            return  # the new process starts without rests
        rest = self.config.hook_rest_after_timeout
        if rest > 0 and process is self.process and hook not in self._resting:
            self._resting[hook] = time.monotonic() + rest
            log.warning(
                "[module %s] hook %s timed out: not asked again for %.3g s (menus do not wait for it)", self.name, hook, rest
            )

    # -------------------------------------------------------------- internals

    def _serving_process(self) -> ModuleProcess | None:
        return self.process if self.process is not None and self.process.alive else None

    async def _launch_locked(self, why: str) -> None:
        if self.spec.problem:
            self.last_error = self.spec.problem
            self._transition(ModuleState.FAILED, self.spec.problem)
            raise ModuleLoadError(self.name, self.spec.problem)
        self._transition(ModuleState.STARTING, why)
        # The version of the code about to be imported (nothing else serves: shown even if it fails).
        self.version = await anyio.to_thread.run_sync(self.spec.version)
        try:
            process = await self._launch(self.name)
        except (ModuleLoadError, ZygoteError) as exc:
            self.last_error = _error_text(exc)
            self._transition(ModuleState.FAILED, self.last_error)
            raise
        self._adopt(process, why, self.version)

    def _adopt(self, process: ModuleProcess, why: str, version: str | None) -> None:
        self.process = process
        self.version = version
        self.last_manifest = process.manifest
        if why != RESTARTED_AFTER_CRASH:
            self.last_error = None  # the operator started or reloaded it and it came up: old errors are history
        self._consecutive_timeouts = 0
        self._resting = {}
        self._psutil = None
        self._transition(ModuleState.RUNNING, f"{why}, pid {process.pid}")
        log.info("[modules] %s: sandbox: %s", self.name, "; ".join(process.sandbox_layers) or "none reported")
        for warning in process.manifest.warnings if process.manifest else ():
            log.warning("[modules] %s: %s", self.name, warning)
        self._tasks.spawn(self._watch(process), f"{self.name}:{process.pid}")

    async def _watch(self, process: ModuleProcess) -> None:
        # The heartbeat lives exactly as long as the watch: the group ends it when the process exits.
        async with anyio.create_task_group() as group:
            group.start_soon(process.heartbeat, name=f"{self.name}:{process.pid}:heartbeat")
            info = await asyncio.shield(process.exited)
            group.cancel_scope.cancel()
        if info.expected or process is not self.process:
            return
        self.process = None
        self._crashed(info.reason)

    def _crashed(self, reason: str) -> None:
        now = time.monotonic()
        self._crashes.append(now)
        while self._crashes and self._crashes[0] < now - self.config.crash_loop_window:
            self._crashes.popleft()
        self.last_error = reason
        if len(self._crashes) >= self.config.crash_loop_max:
            self._transition(
                ModuleState.QUARANTINED,
                f"{len(self._crashes)} crashes within {self.config.crash_loop_window:g} s, last: {reason}; "
                "no more restarts until it is started again",
            )
            return
        delay = self.config.backoff(len(self._crashes))
        self._transition(ModuleState.CRASHED, f"{reason}; restarting in {delay:.2f} s")
        self._tasks.spawn(self._restart_after(delay), f"{self.name}:restart")

    async def _restart_after(self, delay: float) -> None:
        await anyio.sleep(delay)
        async with self._lock:
            if self.state is not ModuleState.CRASHED:
                return  # stopped, started or reloaded meanwhile
            self.restarts += 1
            self._transition(ModuleState.STARTING, f"restart #{self.restarts} after a crash")
            version = await anyio.to_thread.run_sync(self.spec.version)
            try:
                process = await self._launch(self.name)
            except (ModuleLoadError, ZygoteError) as exc:
                self._crashed(f"restart failed: {_error_text(exc)}")
                return
            self._adopt(process, RESTARTED_AFTER_CRASH, version)

    async def _retire(self, process: ModuleProcess | None, reason: str) -> None:
        if process is not None and process.alive:
            await process.terminate(reason)

    def _transition(self, state: ModuleState, reason: str) -> None:
        previous, self.state = self.state, state
        level = logging.ERROR if state in (ModuleState.CRASHED, ModuleState.QUARANTINED, ModuleState.FAILED) else logging.INFO
        log.log(level, "[modules] %s: %s -> %s: %s", self.name, previous.value, state.value, reason)

    # ---------------------------------------------------------------- status

    def status(self) -> dict[str, Any]:
        """The module's state and counters; cheap (no /proc reads): ``rss``, ``uss`` and ``cpu_percent`` are None.

        ``usage()`` adds them; the runtime calls it off the event loop (``status_with_usage``).
        """
        process = self._serving_process()
        manifest = process.manifest if process else None
        state, last_error = self._shown_state()
        return {
            "name": self.name,
            "version": self.version,
            "state": state,
            "enabled": self.enabled,
            "pid": process.pid if process else None,
            "restarts": self.restarts,
            "last_error": last_error,
            "rss": None,
            "uss": None,
            "cpu_percent": None,
            "uptime": time.time() - process.started_at if process else None,
            "hooks": list(manifest.hooks) if manifest else [],
            "has_router": manifest.has_router if manifest else False,
            "webhook_path": manifest.webhook_path if manifest else None,
            "fast_flow_key": manifest.fast_flow_key if manifest else None,
            "warnings": list(manifest.warnings) if manifest else [],
            "sandbox": list(process.sandbox_layers) if process else [],
            "hook_calls": self.latency.calls,
            "hook_errors": self.latency.errors,
            "hook_timeouts": self.latency.timeouts,
            "hooks_resting": sorted(h for h, until in self._resting.items() if until > time.monotonic()),
            "hook_p50": self.latency.percentile(0.5),
            "hook_p99": self.latency.percentile(0.99),
        }

    def _shown_state(self) -> tuple[str, str | None]:
        """The state and last error to show. A process that died unasked reads as crashed at once: the
        watch task reacts a loop turn later, and until then the state would say running with no pid."""
        process = self.process
        if self.state is ModuleState.RUNNING and process is not None and process.exited.done():
            info = process.exited.result()
            if not info.expected:
                return ModuleState.CRASHED.value, info.reason
        return self.state.value, self.last_error

    def usage(self, pid: int | None) -> dict[str, Any]:
        """``rss``, ``uss`` and ``cpu_percent`` of process ``pid`` (since the last call).

        Blocking: it reads /proc/<pid>/smaps, which takes milliseconds for a big process. Call
        it in a worker thread, never on the event loop.
        """
        if pid is None:
            return {}
        try:
            tracked = self._psutil
            if tracked is None or tracked.pid != pid:
                tracked = self._psutil = psutil.Process(pid)
                tracked.cpu_percent(None)  # prime: the next call measures since now
            with tracked.oneshot():
                memory = tracked.memory_full_info()
                return {"rss": memory.rss, "uss": memory.uss, "cpu_percent": tracked.cpu_percent(None)}
        except (psutil.Error, OSError):
            return {}


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, ModuleLoadError):
        return f"{exc.message}\n{exc.traceback}".strip() if exc.traceback else exc.message
    return str(exc)
