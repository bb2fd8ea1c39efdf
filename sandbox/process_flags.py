"""Per-process kernel flags, via ``prctl(2)``: the one home of every prctl the project makes.

- ``parent death signal`` and ``child subreaper``: the process model (the zygote dies with the
  host; module processes forked by the zygote are re-parented to, and reaped by, the host).

- ``no_new_privs``: from now on ``execve`` can never grant privileges (setuid/setgid bits and
  file capabilities are ignored). Landlock requires it from an unprivileged caller, and it is
  what keeps a module from climbing back to root through a setuid binary after the uid drop.
- ``dumpable = 0``: ``/proc/<pid>/environ``, ``/mem``, ``/maps``… become root-owned and
  ``ptrace``/``process_vm_readv`` are refused to other processes of the same uid. The host calls
  it on itself (a module sharing its uid must not read its token from memory), module processes
  too (one module must not read another's DB password). No core dumps either.

Both flags are per *thread* for no_new_privs and per process for dumpable; call them while the
process is still single-threaded, and set dumpable *after* any uid change: the kernel resets it
to ``fs.suid_dumpable`` on every change of effective uid/gid, and ``execve`` resets it again.
"""

from __future__ import annotations

import ctypes
import os
import signal

_libc = ctypes.CDLL(None, use_errno=True)

PR_SET_PDEATHSIG = 1
PR_GET_DUMPABLE = 3
PR_SET_DUMPABLE = 4
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36
PR_GET_NO_NEW_PRIVS = 39


def _prctl(option: int, arg: int = 0) -> int:
    result = _libc.prctl(option, ctypes.c_ulong(arg), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0))
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl({option}): {os.strerror(err)}")
    return result


def set_no_new_privs() -> None:
    """Irreversible for this thread and everything it later creates or executes."""
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    if not no_new_privs():
        raise OSError("PR_SET_NO_NEW_PRIVS did not stick")


def no_new_privs() -> bool:
    return _prctl(PR_GET_NO_NEW_PRIVS) == 1


def set_dumpable(dumpable: bool) -> None:
    _prctl(PR_SET_DUMPABLE, int(dumpable))
    if is_dumpable() != dumpable:
        raise OSError(f"PR_SET_DUMPABLE {int(dumpable)} did not stick")


def is_dumpable() -> bool:
    return _prctl(PR_GET_DUMPABLE) == 1


def set_parent_death_signal(sig: int = signal.SIGKILL) -> None:
    """Have the kernel send ``sig`` to this process when its parent exits."""
    _prctl(PR_SET_PDEATHSIG, sig)


def set_child_subreaper() -> None:
    """Orphaned descendants are re-parented to this process instead of init.

    The host sets this so that module processes, forked by the zygote, become the host's own
    children: it can then reap them, and their parent-death signal follows the host.
    """
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
