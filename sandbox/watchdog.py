"""Host-side memory, CPU and disk watchdog for module processes (psutil sampling).

Kernel limits stop runaway allocation and forks, but not a loop that pins a core, and an address
space limit is a poor proxy for memory in use. Every ``interval`` seconds this samples each
watched module's process tree (the module process and all its descendants):

* memory = the sum of USS (memory only that process holds: the pages it shares with the zygote it
  was forked from are not counted); where USS is unreadable (a non-dumpable module of the bot's
  own uid refuses ``smaps`` to the host), the growth of the tree's summed RSS over the first
  sample after :meth:`ResourceWatchdog.watch` — RSS counts the ~180 MB shared with the zygote,
  which must not kill an idle module with a small budget (``metric="rss"`` forces plain RSS);
* CPU = how long the tree has used at least ``PINNED_SHARE`` of a core, or wanted at least
  ``RUNNABLE_SHARE`` of one (time running plus time runnable but waiting for a core, from
  ``/proc/<pid>/task/<tid>/schedstat``), without a break. On a busy server a spinning thread
  gets only its fair share of a core (a quarter with four spinners per core) but is runnable
  all the time: judging what it got alone would let it spin forever exactly when CPU is scarce;
* disk (when ``disk_paths`` and ``disk_mb`` are given) = the space taken by everything under
  those folders (``st_blocks`` * 512, symlinks not followed, like ``du``), re-measured at most
  every ``disk_interval`` seconds: ``max_file_size_mb`` bounds one file, this bounds them all;
* what no folder walk sees (``sandbox/containment/hidden_files.py``), every sample: memfds and
  ``/dev/shm`` files the tree holds open count as memory, unlinked-but-open files as disk.

Over the memory limit, pinned for longer than ``cpu_seconds``, or over ``disk_mb``, ``on_violation(reason)`` is
called once; the caller kills and restarts the module and calls :meth:`ResourceWatchdog.watch`
again for the new pid.
"""

from __future__ import annotations

import logging
import os
import stat
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import anyio
import psutil

from .containment.hidden_files import hidden_files

log = logging.getLogger("solobot.sandbox")

# Of one core, used. Not 0.9: where schedstat is missing (kernels without CONFIG_SCHED_INFO) this
# is the only measure, and a spinner on a busy machine gets only its fair share of a core.
PINNED_SHARE = 0.45
# Of one core, running or waiting to run (schedstat): what a spinning thread shows however busy
# the machine is. A module that only works in bursts is runnable far less; on a machine so
# oversubscribed that a merely busy module waits most of the time, it may count as pinned too —
# its ``cpu_seconds`` allowance still has to run out first.
RUNNABLE_SHARE = 0.9
MB = 1024 * 1024
# Walking a module's folders costs a stat per entry: at most this often per module.
DISK_INTERVAL = 5.0
# A walk stops after this many entries (about a tenth of a second of stat calls).
MAX_DISK_ENTRIES = 100_000

Metric = Literal["uss", "rss"]


@dataclass
class _Watched:
    pid: int
    memory_mb: float
    cpu_seconds: float
    on_violation: Callable[[str], None]
    cpu: dict[tuple[int, float], float] = field(default_factory=dict)  # (pid, create time) → CPU s at last sample
    runnable: dict[tuple[int, float, int], int] = field(default_factory=dict)  # (pid, create time, tid) → ns run+waited
    sampled_at: float | None = None
    pinned_for: float = 0.0
    fired: bool = False
    memory_bytes: int = 0
    rss_baseline: int | None = None  # summed RSS at the first sample that fell back from USS
    disk_paths: tuple[Path, ...] = ()
    disk_mb: float | None = None
    disk_bytes: int = 0
    disk_measured_at: float | None = None
    hidden_disk_bytes: int = 0  # unlinked-but-open files, as of the last sample
    database_bytes: int = 0  # its schema and large objects, as last measured (db_limits.DatabaseReaper)


@dataclass(frozen=True)
class Usage:
    memory_bytes: int
    cpu_share: float  # cores used since the previous sample (1.0 = one full core)
    pinned_for: float  # seconds pinned in a row
    disk_bytes: int = 0  # under the watched disk paths, as of the last measurement
    runnable_share: float = 0.0  # cores running or waiting to run since the previous sample (schedstat)


class ResourceWatchdog:
    """``watch`` modules, run :meth:`run` in a task; ``sample`` does one round (tests call it directly)."""

    def __init__(
        self,
        interval: float = 0.5,
        *,
        metric: Metric = "uss",
        clock: Callable[[], float] = time.monotonic,
        disk_interval: float = DISK_INTERVAL,
    ) -> None:
        self.interval = interval
        self.disk_interval = disk_interval
        self.metric = metric
        self.clock = clock
        self._watched: dict[str, _Watched] = {}
        self.usage: dict[str, Usage] = {}  # last sample per module, for status
        self._fallback_reported = False

    def watch(
        self,
        name: str,
        pid: int,
        memory_mb: float,
        cpu_seconds: float,
        on_violation: Callable[[str], None],
        *,
        disk_paths: Iterable[Path] = (),
        disk_mb: float | None = None,
    ) -> None:
        """Watch ``pid`` (and its descendants) as module ``name``, replacing an earlier watch of that name.

        With ``disk_paths`` and ``disk_mb``, the total size of what is under those folders counts too.
        """
        self._watched[name] = _Watched(
            pid, memory_mb, cpu_seconds, on_violation, disk_paths=tuple(Path(p) for p in disk_paths), disk_mb=disk_mb
        )
        self.usage.pop(name, None)

    def unwatch(self, name: str, pid: int | None = None) -> None:
        """Stop watching ``name``; with ``pid``, only if that is still the process watched (not a newer one)."""
        watched = self._watched.get(name)
        if watched is None or (pid is not None and watched.pid != pid):
            return
        del self._watched[name]
        self.usage.pop(name, None)

    def set_database_bytes(self, sizes: dict[str, int]) -> None:
        """What each module keeps in the database (its schema, its large objects): counted in ``disk_mb``."""
        for name, size in sizes.items():
            watched = self._watched.get(name)
            if watched is not None:
                watched.database_bytes = size

    @property
    def watched(self) -> list[str]:
        return list(self._watched)

    async def run(self) -> None:
        """Sample every ``interval`` seconds until cancelled.

        Measuring reads /proc (smaps) and walks folders: milliseconds to seconds, so it runs in
        a worker thread; the violations it finds are acted on back on the event loop.
        """
        while True:
            self._act(await anyio.to_thread.run_sync(self.measure))
            await anyio.sleep(self.interval)

    def sample(self) -> None:
        """One round: measure and act (blocking; tests call it directly)."""
        self._act(self.measure())

    def measure(self) -> list[tuple[str, _Watched, str]]:
        """Sample every watched module; ``(name, watch, reason)`` for each over a limit. Thread-safe
        against ``watch``/``unwatch`` on the loop: it works on a snapshot of the watches."""
        now = self.clock()
        found = []
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
            if reason is not None:
                found.append((name, watched, reason))
        return found

    def _act(self, violations: list[tuple[str, _Watched, str]]) -> None:
        for name, watched, reason in violations:
            if watched.fired or self._watched.get(name) is not watched:
                continue  # re-watched (restarted) or unwatched while it was measured
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
        uss, rss, unreadable = 0, 0, False
        cpu_now: dict[tuple[int, float], float] = {}
        runnable_now: dict[tuple[int, float, int], int] = {}
        for process in tree:
            try:
                with process.oneshot():
                    process_uss, process_rss = self._memory(process)
                    rss += process_rss
                    if process_uss is None:
                        unreadable = True
                    else:
                        uss += process_uss
                    times = process.cpu_times()
                    created = process.create_time()
                    cpu_now[(process.pid, created)] = times.user + times.system
                    for tid, nanoseconds in _runnable_ns(process.pid).items():
                        runnable_now[(process.pid, created, tid)] = nanoseconds
            except psutil.NoSuchProcess:
                if process is root:
                    raise
        share = wanted = 0.0
        if watched.sampled_at is not None and now > watched.sampled_at:
            # A process new since the last sample counts all its CPU time; one that exited drops out.
            used = sum(total - watched.cpu.get(key, 0.0) for key, total in cpu_now.items())
            elapsed = now - watched.sampled_at
            share = max(0.0, used) / elapsed
            wanted = sum(total - watched.runnable.get(key, 0) for key, total in runnable_now.items()) / 1e9 / elapsed
            pinned = share >= PINNED_SHARE or wanted >= RUNNABLE_SHARE
            watched.pinned_for = watched.pinned_for + elapsed if pinned else 0.0
        watched.cpu = cpu_now
        watched.runnable = runnable_now
        watched.sampled_at = now
        note = ""
        if self.metric == "rss":
            memory = rss
        elif not unreadable:
            memory = uss
        else:  # the whole tree in RSS, as growth over the first such sample: USS and RSS do not add up
            if watched.rss_baseline is None:
                watched.rss_baseline = rss
                if not self._fallback_reported:
                    self._fallback_reported = True
                    log.info(
                        "[module %s] resource watchdog: USS unreadable (pid %s): memory limits apply to RSS growth "
                        "over the first sample (%.0f MB) instead (reported once)",
                        name,
                        watched.pid,
                        rss / MB,
                    )
            memory = max(0, rss - watched.rss_baseline)
            note = " (RSS growth; USS unreadable)"
        hidden = hidden_files(process.pid for process in tree)
        if hidden.memory_bytes:
            memory += hidden.memory_bytes
            note += f" (memfd/shared memory {hidden.memory_bytes / MB:.0f} MB)"
        watched.hidden_disk_bytes = hidden.disk_bytes
        watched.memory_bytes = memory
        if watched.disk_mb is not None and watched.disk_paths:
            due = watched.disk_measured_at is None or now - watched.disk_measured_at >= self.disk_interval
            if due:
                watched.disk_bytes = disk_usage(watched.disk_paths, name)
                watched.disk_measured_at = now
        disk = watched.disk_bytes + watched.hidden_disk_bytes + watched.database_bytes
        self.usage[name] = Usage(memory, share, watched.pinned_for, disk, wanted)

        limit = watched.memory_mb * MB
        if memory > limit:
            return f"memory {memory / MB:.0f} MB over the {watched.memory_mb:g} MB limit{note}"
        if watched.pinned_for >= watched.cpu_seconds:
            return f"CPU pinned for {watched.pinned_for:.1f} s (allowance {watched.cpu_seconds:g} s)"
        if watched.disk_mb is not None and disk > watched.disk_mb * MB:
            unlinked = (
                f" ({watched.hidden_disk_bytes / MB:.0f} MB in unlinked-but-open files)" if watched.hidden_disk_bytes else ""
            )
            database = (
                f" and {watched.database_bytes / MB:.0f} MB in its database schema and large objects"
                if watched.database_bytes
                else ""
            )
            return (
                f"disk {disk / MB:.0f} MB over the {watched.disk_mb:g} MB limit in its data and temp folders{unlinked}{database}"
            )
        return None

    def _memory(self, process: psutil.Process) -> tuple[int | None, int]:
        """(USS, or ``None`` where it is unreadable; RSS)."""
        uss = None
        if self.metric == "uss":
            try:
                uss = int(process.memory_full_info().uss)
            except (psutil.AccessDenied, AttributeError):
                pass
        return uss, int(process.memory_info().rss)


def _runnable_ns(pid: int) -> dict[int, int]:
    """Per thread of ``pid``: nanoseconds spent on a CPU plus waiting on a run queue (schedstat).

    Empty where schedstat is missing or the process is gone (the CPU-time rule still applies);
    a thread that exits between the listing and the read is skipped.
    """
    found: dict[int, int] = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat", "rb") as file:
                running, waiting, *_ = file.read().split()
        except (OSError, ValueError):
            continue
        found[int(tid)] = int(running) + int(waiting)
    return found


def disk_usage(paths: Iterable[Path], module: str = "?", max_entries: int = MAX_DISK_ENTRIES) -> int:
    """Bytes allocated (``st_blocks`` * 512) to everything under ``paths``, the folders themselves included.

    Symlinks are neither followed nor counted as their targets; a folder that is missing or
    vanishes, or an entry that cannot be read, is skipped. A path seen twice is counted once.
    The walk stops after ``max_entries`` entries (a module could create millions of empty
    files to make every walk slow): the total is then a lower bound, and that is logged.
    """
    total = 0
    entries_seen = 0
    seen: set[tuple[int, int]] = set()
    pending: list[str] = []
    for path in paths:
        try:
            info = os.lstat(path)
        except OSError:
            continue
        if (info.st_dev, info.st_ino) in seen:
            continue
        seen.add((info.st_dev, info.st_ino))
        total += info.st_blocks * 512
        if stat.S_ISDIR(info.st_mode):
            pending.append(os.fspath(path))
    while pending:
        try:
            with os.scandir(pending.pop()) as entries:
                for entry in entries:
                    entries_seen += 1
                    if entries_seen > max_entries:
                        log.warning(
                            "[module %s] disk usage: more than %d files and folders; counted the first %d only",
                            module,
                            max_entries,
                            max_entries,
                        )
                        return total
                    try:
                        info = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    if info.st_nlink > 1 and not stat.S_ISDIR(info.st_mode):
                        key = (info.st_dev, info.st_ino)  # a hard link counts once
                        if key in seen:
                            continue
                        seen.add(key)
                    total += info.st_blocks * 512
                    if stat.S_ISDIR(info.st_mode):
                        pending.append(entry.path)
        except OSError:
            continue
    return total
