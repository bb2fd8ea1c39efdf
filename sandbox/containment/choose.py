"""Pick the best cgroup backend this machine and this user offer (once per runtime).

Order: cgroup v2 with the memory/pids/cpu controllers (a delegated subtree or the bot's own
cgroup); else cgroup v1 hierarchies the bot may create folders in (hybrid mode, as root); else a
cgroup v2 folder without controllers (``cgroup.kill`` and ``cgroup.procs`` still hold every process);
else none. ``SOLOBOT_CGROUP=off`` chooses none on purpose.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

from .cgroup import CgroupBackend
from .cgroup_v1 import CgroupV1Backend, writable_hierarchies
from .cgroup_v2 import LIMIT_CONTROLLERS, CgroupV2Backend, delegated_folder
from .no_cgroup import NoCgroup

log = logging.getLogger("solobot.sandbox")


def choose_backend(env: Mapping[str, str] | None = None) -> CgroupBackend:
    env = os.environ if env is None else env
    configured = env.get("SOLOBOT_CGROUP") or None
    if configured == "off":
        return _report(NoCgroup("turned off (SOLOBOT_CGROUP=off)"))
    folder, why_not_v2 = delegated_folder(configured)
    if folder is not None and (configured or _offers_limits(folder)):
        return _report(CgroupV2Backend(folder, why_not_v2))
    hierarchies = writable_hierarchies()
    if hierarchies:
        return _report(CgroupV1Backend(hierarchies))
    if folder is not None:
        return _report(CgroupV2Backend(folder, why_not_v2))
    why = why_not_v2 if os.geteuid() == 0 else f"the bot runs as uid {os.geteuid()}, not root, and {why_not_v2}"
    return _report(NoCgroup(why))


def _offers_limits(folder: Path) -> bool:
    try:
        return bool(set((folder / "cgroup.controllers").read_text().split()) & set(LIMIT_CONTROLLERS))
    except OSError:
        return False


def _report(backend: CgroupV1Backend | CgroupV2Backend | NoCgroup) -> CgroupBackend:
    if backend.swept:
        log.warning(
            "[modules] %s: killed and removed what a host that is gone left behind: %s",
            backend.name,
            ", ".join(backend.swept[:20]),
        )
    return backend
