"""Where a host keeps its module cgroups, and how a crashed host's are recognised.

Under the delegated folder (cgroup v2) or the host's own cgroup in each hierarchy (v1), a host
creates ``solobot/host-<pid>-<start time>-<n>/`` and one ``<module>.<incarnation>`` folder per
module process in it. The pid and its start time (``/proc/<pid>/stat``, in clock ticks since boot)
name the owner, so that several hosts on one machine (and several runtimes in one process, ``n``)
never touch each other's cgroups, and a folder whose owner is gone — a host that was killed —
is recognised as a leftover at the next start, its processes killed and the folders removed.
Nothing outside ``solobot/`` is ever created, changed or removed.
"""

from __future__ import annotations

import itertools
import os
import re
from pathlib import Path

FOLDER = "solobot"
_NAME = re.compile(r"host-(\d+)-(\d+)-(\d+)")
_counter = itertools.count(1)


def start_time(pid: int) -> int | None:
    """The start time of ``pid`` in clock ticks since boot (None when there is no such process)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22; the command name (field 2) may hold spaces and parentheses: split after its last ')'.
    return int(stat.rsplit(")", 1)[1].split()[19])


def new_host_folder_name() -> str:
    pid = os.getpid()
    return f"host-{pid}-{start_time(pid)}-{next(_counter)}"


def owner_alive(name: str) -> bool:
    """True when the host that made folder ``name`` still runs (or the name is not one of ours)."""
    match = _NAME.fullmatch(name)
    if match is None:
        return True  # not a name we make: never ours to remove
    pid, started = int(match.group(1)), int(match.group(2))
    return start_time(pid) == started


def leftover_folders(parent: Path) -> list[Path]:
    """``parent/solobot/host-…`` folders whose host is gone."""
    root = parent / FOLDER
    try:
        names = [entry.name for entry in os.scandir(root) if entry.is_dir()]
    except OSError:
        return []
    return [root / name for name in names if not owner_alive(name)]
