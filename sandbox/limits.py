"""Resource limits of a module process (``setrlimit(2)``), soft = hard so the module cannot raise them.

Memory: the primary limit is ``RLIMIT_DATA``, set to what the process already has plus the
module's budget. Measured on this project (zygote with aiogram, SQLAlchemy, asyncpg, aiohttp and
the core imported; child runs an asyncio loop, a DB connection over TCP, 20 executor jobs and
8 threads, an aiohttp session):

- a forked child already has ~180 MB of VmData (the zygote's heap, shared copy-on-write but
  counted in full) and ~210 MB of VmSize before it does anything, so an absolute limit mostly
  measures the zygote, not the module: the budget is added on top of the current value;
- ``RLIMIT_AS`` is unusable as the main limit: glibc reserves 64 MB of address space per malloc
  arena (up to 8 per core) and 8 MB per thread stack, so VmSize reached ~1.1 GB while RSS stayed
  at ~190 MB; absolute AS limits of 256 and even 512 MB failed with "can't start new thread"
  while 384 MB happened to pass (placement-dependent, i.e. flaky);
- ``RLIMIT_DATA`` (private writable mappings: heap, anonymous mmap, thread stacks) passed at
  base + 200 MB every time and turned a too-large allocation into ``MemoryError``. Each thread
  costs 8 MB of it (its stack), so budgets below ~64 MB are not realistic.

``RLIMIT_DATA`` does not count shared mappings: ``mmap.mmap(-1, n)`` (MAP_SHARED|MAP_ANONYMOUS)
touched 1 GB under a 300 MB DATA limit. ``RLIMIT_AS`` is therefore also set, loosely (current
VmSize + budget + ``AS_HEADROOM_MB`` for arenas and stacks), as a backstop that bounds that
hole. Neither limits RSS; the supervisor's RSS watchdog (or a cgroup ``memory.max``) does.

``RLIMIT_NPROC`` is checked at fork/clone against the number of tasks (threads included) of the
process's *real uid*, system-wide, and root ignores it. With a per-module uid it is a per-module
limit. When modules share the host's uid (bot not running as root) it caps the host and all
modules together: pass ``processes_in_use`` (see ``count_tasks_of_uid``) so the module gets
``max_processes`` on top of what exists now — best effort, other modules draw on the same pool.
"""

from __future__ import annotations

import os
import resource
import signal
from pathlib import Path

MB = 1024 * 1024
AS_HEADROOM_MB = 2048


def apply_rlimits(
    memory_mb: int, max_processes: int, max_open_files: int, max_file_size_mb: int, *, processes_in_use: int = 0
) -> str:
    """Apply the limits to this process (inherited by its children); return what was applied."""
    vm = _vm_status()
    data_mb = vm.get("VmData", 0) // 1024 + memory_mb
    as_mb = vm.get("VmSize", 0) // 1024 + memory_mb + AS_HEADROOM_MB
    applied = {
        "data": _set(resource.RLIMIT_DATA, data_mb * MB),
        "as": _set(resource.RLIMIT_AS, as_mb * MB),
        "nproc": _set(resource.RLIMIT_NPROC, processes_in_use + max_processes),
        "nofile": _set(resource.RLIMIT_NOFILE, max_open_files),
        "fsize": _set(resource.RLIMIT_FSIZE, max_file_size_mb * MB),
        "core": _set(resource.RLIMIT_CORE, 0),
    }
    # Past RLIMIT_FSIZE the kernel sends SIGXFSZ, whose default action kills the process; ignored,
    # the write fails with EFBIG and the module sees an OSError it can handle.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    nproc = f"{applied['nproc']}" if not processes_in_use else f"{processes_in_use}+{max_processes} (shared uid)"
    return (
        f"rlimits data={vm.get('VmData', 0) // 1024}M+{memory_mb}M as={applied['as'] // MB}M nproc={nproc} "
        f"nofile={applied['nofile']} fsize={applied['fsize'] // MB}M core=0"
    )


def count_tasks_of_uid(uid: int) -> int:
    """Tasks (threads) whose real uid is ``uid``: what RLIMIT_NPROC counts. Needs /proc readable."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            status = Path(entry.path, "status").read_text()
        except OSError:  # the process ended while we looked
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if int(fields.get("Uid", "-1").split()[0]) == uid:
            total += int(fields.get("Threads", "1"))
    return total


def _set(which: int, value: int) -> int:
    _soft, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)  # never try to raise a hard limit: only root could, and it is not ours to raise
    resource.setrlimit(which, (value, value))
    return value


def _vm_status() -> dict[str, int]:
    """VmData/VmSize of this process in kB."""
    result: dict[str, int] = {}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmData", "VmSize"):
                result[key] = int(value.split()[0])
    except OSError:
        pass
    return result
