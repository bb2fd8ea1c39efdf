"""cgroup v1 backend: a folder per module process in each writable hierarchy (memory, pids, cpu, freezer).

Used where the controllers live in v1 hierarchies (hybrid mode, older distributions). For each
hierarchy the host creates ``solobot/host-…/<module>.<n>`` under its own cgroup there
(``/proc/self/cgroup``) and sets ``memory.limit_in_bytes`` (and ``memory.memsw.limit_in_bytes``
to the same value where swap accounting exists, so the limit cannot be dodged into swap),
``pids.max`` and ``cpu.cfs_quota_us``. v1 has no ``cgroup.kill``: stopping freezes the freezer
cgroup (no process in it can fork any more), SIGKILLs every pid its ``cgroup.procs`` lists, and
thaws it so the signals are delivered. Without a freezer hierarchy, the kill is repeated until
the cgroup is empty (a bounded number of rounds).
"""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass
from pathlib import Path

from .cgroup import LEFTOVER, MB, CgroupLimits, kill_and_remove, kill_pids, read_counter, read_pids, remove_tree, write
from .host_folder import FOLDER, leftover_folders, new_host_folder_name
from .mounts import cgroup_mounts, folder_of, own_cgroups

CONTROLLERS = ("memory", "pids", "cpu", "freezer")
FREEZE_WAIT = 1.0  # seconds for FREEZING to become FROZEN (milliseconds in practice)
KILL_ROUNDS = 20  # without a freezer: kill what the cgroup lists, again, until it is empty


def writable_hierarchies() -> dict[str, Path]:
    """Controller → this process's own cgroup folder, for each wanted v1 controller we may create folders in."""
    own = own_cgroups()
    found: dict[str, Path] = {}
    for mount in cgroup_mounts():
        if mount.fstype != "cgroup":
            continue
        for controller in CONTROLLERS:
            if controller in mount.controllers and controller in own and controller not in found:
                folder = folder_of(mount, own[controller])
                if os.access(folder, os.W_OK | os.X_OK):
                    found[controller] = folder
    return found


@dataclass
class CgroupV1:
    module: str
    dirs: dict[str, Path]  # controller → this cgroup's folder in that hierarchy
    limits: CgroupLimits = LEFTOVER
    layer: str = ""

    @property
    def memory_limited(self) -> bool:
        return "memory" in self.dirs

    @property
    def procs_files(self) -> tuple[str, ...]:
        return tuple(str(folder / "cgroup.procs") for folder in self.dirs.values())

    def pids(self) -> list[int]:
        found: set[int] = set()
        for folder in self.dirs.values():
            found.update(read_pids(folder / "cgroup.procs"))
        return sorted(found)

    def kill(self) -> list[int]:
        freezer = self.dirs.get("freezer")
        signalled: set[int] = set()
        if freezer is not None and freezer.is_dir():
            frozen = _freeze(freezer)
            try:
                pids = self.pids()
                kill_pids(pids)
                signalled.update(pids)
            finally:
                write(freezer / "freezer.state", "THAWED")  # frozen tasks die once thawed
            if frozen:
                return sorted(signalled)
        for _ in range(KILL_ROUNDS):  # no freezer (or it did not freeze in time): until nothing is left
            pids = self.pids()
            if not pids:
                break
            kill_pids(pids)
            signalled.update(pids)
            time.sleep(0.001)
        return sorted(signalled)

    def oom_kills(self) -> int:
        memory = self.dirs.get("memory")
        return read_counter(memory / "memory.oom_control", "oom_kill") if memory is not None else 0

    def remove(self) -> bool:
        return all([remove_tree(folder) for folder in self.dirs.values()])


class CgroupV1Backend:
    name = "cgroup v1"

    def __init__(self, hierarchies: dict[str, Path]) -> None:
        if not hierarchies:
            raise ValueError("cgroup v1: no writable hierarchy")
        self.hierarchies = hierarchies
        self.host_folder = new_host_folder_name()
        self._incarnations = itertools.count(1)
        self.swept = sweep_leftovers(hierarchies)

    def _host_dirs(self) -> dict[str, Path]:
        return {controller: own / FOLDER / self.host_folder for controller, own in self.hierarchies.items()}

    def create(self, module: str, limits: CgroupLimits) -> CgroupV1:
        name = f"{module}.{next(self._incarnations)}"
        cgroup = CgroupV1(module, {controller: host / name for controller, host in self._host_dirs().items()}, limits)
        try:
            for folder in cgroup.dirs.values():
                folder.mkdir(parents=True)
            applied = _apply_limits(cgroup.dirs, limits)
        except OSError:
            cgroup.remove()
            raise
        where = f"{FOLDER}/{self.host_folder}/{name}"
        cgroup.layer = f"cgroup v1 {where}: " + ", ".join(applied)
        return cgroup

    def describe_missing(self) -> list[str]:
        missing = [c for c in CONTROLLERS if c not in self.hierarchies]
        reasons = {
            "memory": "memory in memfds, tmpfs and shared memory is counted by the watchdog only",
            "pids": "processes are bounded by RLIMIT_NPROC only",
            "cpu": "no CPU quota (the watchdog's cpu_seconds still applies)",
            "freezer": "a stop kills the cgroup's processes in rounds instead of frozen at once",
        }
        return [f"NOT cgroup {c}: no writable v1 {c} hierarchy: {reasons[c]}" for c in missing]

    def close(self) -> None:
        for cgroup in _cgroups_in(self._host_dirs()):
            kill_and_remove(cgroup)
        for folder in self._host_dirs().values():
            remove_tree(folder)


def _apply_limits(dirs: dict[str, Path], limits: CgroupLimits) -> list[str]:
    applied = []
    memory = dirs.get("memory")
    if memory is not None:
        write(memory / "memory.limit_in_bytes", str(limits.memory_mb * MB))
        swap = memory / "memory.memsw.limit_in_bytes"
        if swap.exists():
            write(swap, str(limits.memory_mb * MB))  # memory + swap: no swap on top
        applied.append(f"memory {limits.memory_mb}M{' (+swap)' if swap.exists() else ''}")
    pids = dirs.get("pids")
    if pids is not None:
        write(pids / "pids.max", str(limits.max_processes))
        applied.append(f"pids {limits.max_processes}")
    cpu = dirs.get("cpu")
    if cpu is not None:
        period = int((cpu / "cpu.cfs_period_us").read_text())
        write(cpu / "cpu.cfs_quota_us", str(max(1000, int(limits.cpu_cores * period))))
        applied.append(f"cpu {limits.cpu_cores:g} core{'s' if limits.cpu_cores != 1 else ''}")
    if "freezer" in dirs:
        applied.append("freezer kill")
    return applied


def _freeze(freezer: Path) -> bool:
    write(freezer / "freezer.state", "FROZEN")
    deadline = time.monotonic() + FREEZE_WAIT
    while time.monotonic() < deadline:
        if (freezer / "freezer.state").read_text().strip() == "FROZEN":
            return True
        time.sleep(0.001)
    return False


def _cgroups_in(host_dirs: dict[str, Path]) -> list[CgroupV1]:
    """The module cgroups under one host folder, each with its folders in every hierarchy."""
    names: set[str] = set()
    for folder in host_dirs.values():
        if folder.is_dir():
            names.update(child.name for child in folder.iterdir() if child.is_dir())
    return [
        CgroupV1(name.rsplit(".", 1)[0], {c: host / name for c, host in host_dirs.items() if (host / name).is_dir()})
        for name in sorted(names)
    ]


def sweep_leftovers(hierarchies: dict[str, Path]) -> list[str]:
    """Kill and remove what hosts that are gone left behind; return the module cgroups swept."""
    swept = []
    names = {folder.name for own in hierarchies.values() for folder in leftover_folders(own)}
    for host in sorted(names):
        host_dirs = {c: own / FOLDER / host for c, own in hierarchies.items() if (own / FOLDER / host).is_dir()}
        for cgroup in _cgroups_in(host_dirs):
            kill_and_remove(cgroup)
            swept.append(f"{host}/{cgroup.module}")
        for folder in host_dirs.values():
            remove_tree(folder)
    return swept
