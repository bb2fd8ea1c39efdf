"""Whether the host can supervise a module's connects at all on this machine.

The supervisor reads the module's memory (``process_vm_readv``) and takes its socket
(``pidfd_getfd``): both need ptrace access to the module process. As root the host has it. An
ordinary user has it to a module of its own uid that stays dumpable (``sandbox/apply.py``) —
unless Yama forbids: ``kernel.yama.ptrace_scope`` 1 still allows it (the host is the module's
parent: it is the subreaper the zygote's double fork hands every module process to), 2 and 3
allow it to CAP_SYS_PTRACE only.
"""

from __future__ import annotations

YAMA_SCOPE = "/proc/sys/kernel/yama/ptrace_scope"


def yama_scope(path: str = YAMA_SCOPE) -> int:
    """Yama's ptrace scope (0 without Yama)."""
    try:
        with open(path, encoding="ascii") as scope:
            return int(scope.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def unavailable_reason(as_root: bool, scope: int | None = None) -> str | None:
    """Why the host cannot supervise module connects here (``None``: it can)."""
    if as_root:
        return None
    scope = yama_scope() if scope is None else scope
    if scope >= 2:
        return (
            f"Yama ptrace_scope={scope} lets only CAP_SYS_PTRACE read a module's connect addresses "
            "(run the bot as root, or set kernel.yama.ptrace_scope=1) — any address on its ports"
        )
    return None
