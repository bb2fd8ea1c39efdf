"""Without cgroups: what a host that was SIGKILLed left running, recognised by its command line.

Every module process is forked from the zygote, and so is everything it forks in turn (a sandboxed
module cannot exec): they all carry the zygote's command line,
``python -m runtime.supervision.zygote <fd> <host pid>``. When the host dies by SIGKILL, each
module process follows it (``PR_SET_PDEATHSIG``), but the children it forked do not (the kernel
clears the parent-death signal in every fork). At the next start such a process is recognised by
that command line naming a host pid that no longer exists, and killed. Best effort: a module may
overwrite its own argv, and a host pid the system has reused keeps its orphans alive; cgroups
(``choose.py``) are the real answer.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

ZYGOTE_MODULE = "runtime.supervision.zygote"


def orphaned_module_processes() -> list[int]:
    """Processes of this user (any, for root) forked from the zygote of a host that is gone."""
    found = []
    me = os.getpid()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            if os.geteuid() != 0 and entry.stat().st_uid != os.geteuid():
                continue
            argv = Path(entry.path, "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        host = _host_pid(argv)
        if host is not None and not os.path.exists(f"/proc/{host}"):
            found.append(int(entry.name))
    return found


def sweep_orphans() -> list[int]:
    """SIGKILL every orphaned module process; return their pids."""
    pids = orphaned_module_processes()
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    return pids


def _host_pid(argv: list[bytes]) -> int | None:
    try:
        at = argv.index(ZYGOTE_MODULE.encode())
    except ValueError:
        return None
    if at < 1 or argv[at - 1] != b"-m" or len(argv) < at + 3:
        return None
    fd, host = argv[at + 1], argv[at + 2]
    return int(host) if fd.isdigit() and host.isdigit() else None
