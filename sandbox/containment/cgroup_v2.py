"""cgroup v2 backend: a delegated subtree, one cgroup per module process.

The subtree is ``SOLOBOT_CGROUP`` (a cgroup v2 folder the operator delegated to the bot, e.g. with
systemd's ``Delegate=yes``; a path under the cgroup2 mount or a cgroup path such as
``/system.slice/solobot.service/modules``) or, by default, the host's own cgroup. The host creates
``solobot/host-…/<module>.<n>`` there. Where the ``memory``, ``pids`` and ``cpu`` controllers are
available it enables them down to the module cgroups and sets ``memory.max`` (``memory.swap.max``
0), ``pids.max`` and ``cpu.max``; where they are not (a cgroup holding processes cannot hand
controllers down — cgroup v2's "no internal processes" rule — or the machine binds them to v1),
the cgroup still gives ``cgroup.kill`` and ``cgroup.procs``, and the missing limits are reported.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from pathlib import Path

from .cgroup import LEFTOVER, MB, CgroupLimits, kill_and_remove, kill_pids, read_counter, read_pids, remove_tree, write
from .host_folder import FOLDER, leftover_folders, new_host_folder_name
from .mounts import cgroup_mounts, folder_of, own_cgroups

LIMIT_CONTROLLERS = ("memory", "pids", "cpu")
CPU_PERIOD_US = 100_000


def delegated_folder(configured: str | None) -> tuple[Path | None, str]:
    """The writable cgroup v2 folder to create module cgroups under, or None and why not."""
    mount = next((m for m in cgroup_mounts() if m.fstype == "cgroup2"), None)
    if mount is None:
        return None, "no cgroup2 file system is mounted"
    if configured:
        path = Path(configured)
        folder = path if path.is_relative_to(mount.mountpoint) else folder_of(mount, configured)
        source = f"SOLOBOT_CGROUP={configured}"
    else:
        folder = folder_of(mount, own_cgroups().get("", "/"))
        source = "the bot's own cgroup"
    if not (folder / "cgroup.procs").exists():
        return None, f"{source}: {folder} is not a cgroup v2 folder"
    if not os.access(folder, os.W_OK | os.X_OK) or not os.access(folder / "cgroup.procs", os.W_OK):
        return None, f"{source}: {folder} is not writable by uid {os.geteuid()} (not delegated)"
    return folder, source


@dataclass
class CgroupV2:
    module: str
    folder: Path
    limits: CgroupLimits = LEFTOVER
    layer: str = ""
    memory_limited: bool = False

    @property
    def procs_files(self) -> tuple[str, ...]:
        return (str(self.folder / "cgroup.procs"),)

    def pids(self) -> list[int]:
        found: set[int] = set()
        for procs in self.folder.rglob("cgroup.procs"):  # a module cannot make sub-cgroups, but sweeps may meet them
            found.update(read_pids(procs))
        return sorted(found)

    def kill(self) -> list[int]:
        pids = self.pids()
        if not self.folder.is_dir():
            return pids
        kill_file = self.folder / "cgroup.kill"
        if kill_file.exists():  # Linux >= 5.14: the kernel kills the whole subtree, forks in flight included
            write(kill_file, "1")
            return pids
        write(self.folder / "cgroup.freeze", "1")
        try:
            pids = self.pids()
            kill_pids(pids)
        finally:
            write(self.folder / "cgroup.freeze", "0")
        return pids

    def oom_kills(self) -> int:
        return read_counter(self.folder / "memory.events", "oom_kill")

    def remove(self) -> bool:
        return remove_tree(self.folder)


class CgroupV2Backend:
    name = "cgroup v2"

    def __init__(self, delegated: Path, source: str) -> None:
        self.delegated = delegated
        self.source = source
        self.host_folder_path = delegated / FOLDER / new_host_folder_name()
        self._incarnations = itertools.count(1)
        self.swept = sweep_leftovers(delegated)
        self.controllers, self.controllers_missing = self._enable_controllers()

    def _enable_controllers(self) -> tuple[tuple[str, ...], str | None]:
        """Hand memory/pids/cpu down to the host folder; which ones, and why not all."""
        self.host_folder_path.mkdir(parents=True, exist_ok=True)
        available = set((self.delegated / "cgroup.controllers").read_text().split())
        wanted = [c for c in LIMIT_CONTROLLERS if c in available]
        if not wanted:
            return (), f"{self.source} offers none of the memory, pids, cpu controllers"
        try:
            for folder in (self.delegated, self.delegated / FOLDER, self.host_folder_path):
                write(folder / "cgroup.subtree_control", " ".join(f"+{c}" for c in wanted))
        except OSError as exc:
            why = "it holds processes (cgroup v2 hands controllers only to an empty cgroup's children)"
            reason = why if exc.errno == 16 else os.strerror(exc.errno or 0)
            return (
                (),
                f"cannot enable {', '.join(wanted)} under {self.delegated}: {reason}; delegate an empty cgroup (SOLOBOT_CGROUP)",
            )
        missing = [c for c in LIMIT_CONTROLLERS if c not in wanted]
        return tuple(wanted), (f"{self.source} offers no {', '.join(missing)} controller" if missing else None)

    def create(self, module: str, limits: CgroupLimits) -> CgroupV2:
        name = f"{module}.{next(self._incarnations)}"
        folder = self.host_folder_path / name
        self.host_folder_path.mkdir(parents=True, exist_ok=True)
        folder.mkdir()
        cgroup = CgroupV2(module, folder, limits, memory_limited="memory" in self.controllers)
        try:
            applied = self._apply_limits(folder, limits)
        except OSError:
            cgroup.remove()
            raise
        cgroup.layer = f"cgroup v2 {folder.relative_to(self.delegated.parent)}: " + ", ".join([*applied, "cgroup.kill"])
        return cgroup

    def _apply_limits(self, folder: Path, limits: CgroupLimits) -> list[str]:
        applied = []
        if "memory" in self.controllers:
            write(folder / "memory.max", str(limits.memory_mb * MB))
            if (folder / "memory.swap.max").exists():
                write(folder / "memory.swap.max", "0")
            applied.append(f"memory.max {limits.memory_mb}M")
        if "pids" in self.controllers:
            write(folder / "pids.max", str(limits.max_processes))
            applied.append(f"pids.max {limits.max_processes}")
        if "cpu" in self.controllers:
            write(folder / "cpu.max", f"{max(1000, int(limits.cpu_cores * CPU_PERIOD_US))} {CPU_PERIOD_US}")
            applied.append(f"cpu.max {limits.cpu_cores:g} core{'s' if limits.cpu_cores != 1 else ''}")
        return applied

    def describe_missing(self) -> list[str]:
        if self.controllers_missing is None:
            return []
        return [
            f"NOT cgroup limits: {self.controllers_missing}: memory in memfds/shared memory is counted by the watchdog "
            "and processes by RLIMIT_NPROC only"
        ]

    def close(self) -> None:
        if self.host_folder_path.is_dir():
            for child in [p for p in self.host_folder_path.iterdir() if p.is_dir()]:
                kill_and_remove(CgroupV2(child.name.rsplit(".", 1)[0], child))
        remove_tree(self.host_folder_path)


def sweep_leftovers(delegated: Path) -> list[str]:
    swept = []
    for host in leftover_folders(delegated):
        for child in [p for p in host.iterdir() if p.is_dir()]:
            kill_and_remove(CgroupV2(child.name.rsplit(".", 1)[0], child))
            swept.append(f"{host.name}/{child.name}")
        remove_tree(host)
    return swept
