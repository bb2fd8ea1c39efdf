"""One small interface over the kernel's per-module cgroups, whatever the machine offers.

The host creates one cgroup per module *process incarnation* (during a reload the old and the new
process run side by side, and killing one must not touch the other). The module process writes
its own pid into every ``procs_files`` entry before it drops its privileges and before any module
code exists in it (``sandbox/apply.py``), so everything it ever starts — after ``setsid()`` and a
double fork too — stays inside. Stopping is then ``kill()``: every process in the cgroup, found by
the kernel's own list, not by walking parents. Memory the module puts in memfds, tmpfs or shared
memory is charged to its memory cgroup by the kernel.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

MB = 1024 * 1024


@dataclass(frozen=True)
class CgroupLimits:
    memory_mb: int
    max_processes: int
    cpu_cores: float


LEFTOVER = CgroupLimits(0, 0, 0)  # a swept cgroup's limits are not known (nor needed)


class ModuleCgroup(Protocol):
    """One module process incarnation's cgroup (in one or several hierarchies)."""

    module: str
    limits: CgroupLimits
    layer: str  # the status line: backend, limits, where

    @property
    def memory_limited(self) -> bool:
        """A memory controller charges memfds, tmpfs and shared memory to it."""
        ...

    @property
    def procs_files(self) -> tuple[str, ...]:
        """The ``cgroup.procs`` files the module process joins (writes ``0`` to) before module code runs."""
        ...

    def pids(self) -> list[int]:
        """Every process in it now."""
        ...

    def kill(self) -> list[int]:
        """SIGKILL everything in it, forks in flight included; return the pids that were signalled."""
        ...

    def oom_kills(self) -> int:
        """How many times the kernel's OOM killer acted inside it (0 without a memory controller)."""
        ...

    def remove(self) -> bool:
        """Remove it (and its folders in every hierarchy); False while processes are still in it."""
        ...


class CgroupBackend(Protocol):
    """Creates module cgroups under the host's own folder; ``close()`` removes that folder."""

    name: str

    def create(self, module: str, limits: CgroupLimits) -> ModuleCgroup | None:
        """A new cgroup for one start of ``module``; None when this backend has none to give."""
        ...

    def describe_missing(self) -> list[str]:
        """``NOT …`` lines for what this backend cannot do (empty when everything is in force)."""
        ...

    def close(self) -> None: ...


def kill_and_remove(cgroup: ModuleCgroup, seconds: float = 2.0) -> list[int]:
    """Kill everything in ``cgroup``, reap what of it became our child, and remove it (blocking).

    Killed processes leave their cgroup only once they have exited: ``rmdir`` is retried (and the
    kill repeated, for a fork that raced it) for up to ``seconds``. The host is a child subreaper,
    so a module's orphans are its children: their zombies are reaped here.
    """
    deadline = time.monotonic() + seconds
    signalled: set[int] = set()
    while True:
        try:
            signalled.update(cgroup.kill())
        except OSError:
            pass  # already (being) removed
        _reap(signalled)
        if cgroup.remove() or time.monotonic() >= deadline:
            break
        time.sleep(0.005)
    _reap(signalled)
    return sorted(signalled)


def _reap(pids: set[int]) -> None:
    for pid in list(pids):
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass  # not ours (the module process itself is reaped by its ModuleProcess)


def read_counter(path: Path, key: str) -> int:
    """The value of ``key`` in a flat-keyed control file (``memory.events``, ``memory.oom_control``); 0 if absent."""
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


def read_pids(procs_file: Path) -> list[int]:
    try:
        return [int(line) for line in procs_file.read_text().split()]
    except (FileNotFoundError, ProcessLookupError, ValueError):
        return []


def kill_pids(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def write(path: Path, value: str) -> None:
    """A cgroup control file takes one write of the whole value (no buffering, no truncation)."""
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def remove_tree(folder: Path) -> bool:
    """``rmdir`` a cgroup folder and its sub-cgroups, deepest first (cgroup folders hold only control files)."""
    try:
        children = sorted((p for p in folder.iterdir() if p.is_dir()), reverse=True)
    except (FileNotFoundError, NotADirectoryError):
        return True
    removed = True
    for child in children:
        removed = remove_tree(child) and removed
    try:
        folder.rmdir()
    except FileNotFoundError:
        pass
    except OSError:  # EBUSY: a process (or a sub-cgroup we could not remove) is still in it
        return False
    return removed
