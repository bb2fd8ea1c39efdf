"""Where the cgroup hierarchies are mounted, and where this process sits in each (``/proc/self``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CgroupMount:
    fstype: str  # "cgroup" (v1) or "cgroup2"
    mountpoint: Path
    root: str  # the hierarchy path mounted there ("/" unless in a container)
    controllers: frozenset[str]  # v1: the controllers of this hierarchy (super options); v2: empty


def cgroup_mounts(mountinfo: str | None = None) -> list[CgroupMount]:
    text = Path("/proc/self/mountinfo").read_text() if mountinfo is None else mountinfo
    found = []
    for line in text.splitlines():
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2"):
            continue
        options = frozenset(tail[2].split(",")) if tail[0] == "cgroup" else frozenset()
        found.append(CgroupMount(tail[0], Path(_unescape(fields[4])), _unescape(fields[3]), options))
    return found


def own_cgroups(text: str | None = None) -> dict[str, str]:
    """Controller (``""`` for cgroup v2) → this process's cgroup path in that hierarchy."""
    text = Path("/proc/self/cgroup").read_text() if text is None else text
    result: dict[str, str] = {}
    for line in text.splitlines():
        _id, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            result[controller] = path
    return result


def folder_of(mount: CgroupMount, path: str) -> Path:
    """The folder of cgroup ``path`` under ``mount`` (a container's mount may start below the root)."""
    if mount.root != "/" and (path == mount.root or path.startswith(mount.root + "/")):
        path = path[len(mount.root) :]
    return mount.mountpoint / path.lstrip("/")


def _unescape(field: str) -> str:
    return field.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")
