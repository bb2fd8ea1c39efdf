"""The backend where no cgroup can be had (the bot is not root and no cgroup v2 subtree is delegated).

What still holds without one (``sandbox/seccomp.py``, ``runtime/supervision/process.py``): a
sandboxed module cannot call ``setsid``/``setpgid``, so every process it starts stays in the
process group the zygote gave it and dies with the group kill on stop, restart and crash; the host
(a child subreaper) reaps them; at host exit the module processes die with their parent
(``PR_SET_PDEATHSIG``) and the host kills their groups. If the host itself is SIGKILLed, a module's
children outlive it until the next start, which kills them (``orphans.py``: by their command line,
best effort). What does not hold: a *trusted* module may still leave its group.
"""

from __future__ import annotations

from .cgroup import CgroupLimits, ModuleCgroup
from .orphans import sweep_orphans


class NoCgroup:
    name = "none"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        self.swept = [f"pid {pid}" for pid in sweep_orphans()]  # what a host killed before us left running

    def create(self, module: str, limits: CgroupLimits) -> ModuleCgroup | None:
        return None

    def describe_missing(self) -> list[str]:
        return [
            f"NOT cgroup: {self.reason} (run the bot as root, or delegate a cgroup v2 subtree to it and name it in "
            "SOLOBOT_CGROUP); instead setsid/setpgid are refused, so its process group holds all its processes"
        ]

    def close(self) -> None:
        pass
