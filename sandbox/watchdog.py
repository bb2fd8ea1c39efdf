"""Host-side memory and CPU watchdog for module processes (psutil sampling).

Kernel limits stop runaway allocation and forks, but not a loop that pins a core, and an address
space limit is a poor proxy for memory in use. Every ``interval`` seconds this samples each
watched module's process tree (the module process and all its descendants):

* memory = the sum of USS (memory only that process holds: the pages it shares with the zygote it
  was forked from are not counted), or RSS where USS is unavailable (``metric="rss"`` forces it);
* CPU = how long the tree has used at least ``PINNED_SHARE`` of a core without a break.

Over the memory limit, or pinned for longer than ``cpu_seconds``, ``on_violation(reason)`` is
called once; the caller kills and restarts the module and calls :meth:`ResourceWatchdog.watch`
again for the new pid.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import psutil

log = logging.getLogger("solobot.sandbox")

# Of one core. Not 0.9: on a busy machine a process spinning forever gets only its fair share
# of a core (measured: ~0.5 with four runnable processes on two cores), and must still be caught.
PINNED_SHARE = 0.45
MB = 1024 * 1024

Metric = Literal["uss", "rss"]


@dataclass
class _Watched:
    pid: int
    memory_mb: float
    cpu_seconds: float
    on_violation: Callable[[str], None]
    cpu: dict[tuple[int, float], float] = field(default_factory=dict)  # (pid, create time) → CPU s at last sample
    sampled_at: float | None = None
    pinned_for: float = 0.0
    fired: bool = False
    memory_bytes: int = 0


@dataclass(frozen=True)
class Usage:
    memory_bytes: int
    cpu_share: float  # cores used since the previous sample (1.0 = one full core)
    pinned_for: float  # seconds pinned in a row


class ResourceWatchdog:
    """``watch`` modules, run :meth:`run` in a task; ``sample`` does one round (tests call it directly)."""

    def __init__(self, interval: float = 0.5, *, metric: Metric = "uss", clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.metric = metric
        self.clock = clock
        self._watched: dict[str, _Watched] = {}
        self.usage: dict[str, Usage] = {}  # last sample per module, for status

    def watch(self, name: str, pid: int, memory_mb: float, cpu_seconds: float, on_violation: Callable[[str], None]) -> None:
        """Watch ``pid`` (and its descendants) as module ``name``, replacing an earlier watch of that name."""
        self._watched[name] = _Watched(pid, memory_mb, cpu_seconds, on_violation)
        self.usage.pop(name, None)

    def unwatch(self, name: str) -> None:
        self._watched.pop(name, None)
        self.usage.pop(name, None)

    @property
    def watched(self) -> list[str]:
        return list(self._watched)

    async def run(self) -> None:
        """Sample every ``interval`` seconds until cancelled."""
        while True:
            self.sample()
            await asyncio.sleep(self.interval)

    def sample(self) -> None:
        now = self.clock()
        for name, watched in list(self._watched.items()):
            if watched.fired:
                continue
            try:
                reason = self._check(name, watched, now)
            except psutil.NoSuchProcess:
                continue  # the module exited: its supervisor notices and calls unwatch/watch
            except Exception:
                log.exception("[module %s] resource watchdog could not sample pid %s", name, watched.pid)
                continue
            if reason is None or self._watched.get(name) is not watched:
                continue
            watched.fired = True
            log.warning("[module %s] resource watchdog: %s", name, reason)
            try:
                watched.on_violation(reason)
            except Exception:
                log.exception("[module %s] resource watchdog: on_violation raised", name)

    def _check(self, name: str, watched: _Watched, now: float) -> str | None:
        root = psutil.Process(watched.pid)
        tree = [root]
        try:
            tree += root.children(recursive=True)
        except psutil.NoSuchProcess:
            raise
        except psutil.Error:
            pass
        memory = 0
        cpu_now: dict[tuple[int, float], float] = {}
        for process in tree:
            try:
                with process.oneshot():
                    memory += self._memory(process)
                    times = process.cpu_times()
                    cpu_now[(process.pid, process.create_time())] = times.user + times.system
            except psutil.NoSuchProcess:
                if process is root:
                    raise
        share = 0.0
        if watched.sampled_at is not None and now > watched.sampled_at:
            # A process new since the last sample counts all its CPU time; one that exited drops out.
            used = sum(total - watched.cpu.get(key, 0.0) for key, total in cpu_now.items())
            elapsed = now - watched.sampled_at
            share = max(0.0, used) / elapsed
            watched.pinned_for = watched.pinned_for + elapsed if share >= PINNED_SHARE else 0.0
        watched.cpu = cpu_now
        watched.sampled_at = now
        watched.memory_bytes = memory
        self.usage[name] = Usage(memory, share, watched.pinned_for)

        limit = watched.memory_mb * MB
        if memory > limit:
            return f"memory {memory / MB:.0f} MB over the {watched.memory_mb:g} MB limit"
        if watched.pinned_for >= watched.cpu_seconds:
            return f"CPU pinned for {watched.pinned_for:.1f} s (allowance {watched.cpu_seconds:g} s)"
        return None

    def _memory(self, process: psutil.Process) -> int:
        if self.metric == "uss":
            try:
                return int(process.memory_full_info().uss)
            except (psutil.AccessDenied, AttributeError):
                pass
        return int(process.memory_info().rss)
