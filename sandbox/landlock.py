"""Landlock (``landlock(7)``): unprivileged, stackable filesystem, TCP and IPC-scope restrictions.

The module process restricts *itself*: the ruleset "handles" every access right the running
kernel knows, so anything not explicitly allowed by a rule is denied, for this thread and every
thread and process it creates afterwards, irrevocably. Rules are attached to inodes (a path is
opened with ``O_PATH`` when the rule is added) and apply to everything beneath a directory.

What the ABI versions add (each kernel supports all lower versions):
1 (5.13) filesystem: execute, read/write files, read dirs, remove, make char/dir/reg/sock/fifo/block/sym
2 (5.19) REFER: renaming/linking across directories   3 (6.2) TRUNCATE
4 (6.7)  TCP bind/connect per port                     5 (6.10) IOCTL_DEV on device files
6 (6.12) scopes: abstract unix sockets, signals to processes outside the domain
7 (6.15) audit logging flags (denials are logged by default; nothing to opt into here)

What Landlock (ABI <= 7) does *not* cover, and so neither does this layer: UDP and other
non-TCP protocols, connecting to *pathname* unix sockets (e.g. /run/docker.sock), file
descriptors opened before the restriction (the IPC channel keeps working, by design), stat()
and path traversal (a process can still see that a path exists), and reading /proc entries of
processes in its own domain. Ptrace of processes outside the domain is always denied.

Syscall numbers 444–446 are the same on every architecture (allocated after the syscall tables
were unified), so no per-architecture table is needed.
"""

from __future__ import annotations

import ctypes
import os
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path

from .process_flags import set_no_new_privs

SYS_CREATE_RULESET = 444
SYS_ADD_RULE = 445
SYS_RESTRICT_SELF = 446

CREATE_RULESET_VERSION = 1 << 0
CREATE_RULESET_ERRATA = 1 << 1  # ABI >= 7
RULE_PATH_BENEATH = 1
RULE_NET_PORT = 2

FS_EXECUTE = 1 << 0
FS_WRITE_FILE = 1 << 1
FS_READ_FILE = 1 << 2
FS_READ_DIR = 1 << 3
FS_REMOVE_DIR = 1 << 4
FS_REMOVE_FILE = 1 << 5
FS_MAKE_CHAR = 1 << 6
FS_MAKE_DIR = 1 << 7
FS_MAKE_REG = 1 << 8
FS_MAKE_SOCK = 1 << 9
FS_MAKE_FIFO = 1 << 10
FS_MAKE_BLOCK = 1 << 11
FS_MAKE_SYM = 1 << 12
FS_REFER = 1 << 13  # ABI 2
FS_TRUNCATE = 1 << 14  # ABI 3
FS_IOCTL_DEV = 1 << 15  # ABI 5

NET_BIND_TCP = 1 << 0  # ABI 4
NET_CONNECT_TCP = 1 << 1  # ABI 4

SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
SCOPE_SIGNAL = 1 << 1  # ABI 6

# Every filesystem right by the ABI that introduced it.
_FS_BY_ABI = {1: (1 << 13) - 1, 2: FS_REFER, 3: FS_TRUNCATE, 5: FS_IOCTL_DEV}
# The only rights the kernel accepts in a rule on a non-directory.
_FS_FILE_RIGHTS = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV

READ = FS_READ_FILE | FS_READ_DIR
READ_EXECUTE = READ | FS_EXECUTE
# Everything but executing and creating devices: a module's own folders are data, not programs.
READ_WRITE = (
    READ
    | FS_WRITE_FILE
    | FS_REMOVE_DIR
    | FS_REMOVE_FILE
    | FS_MAKE_DIR
    | FS_MAKE_REG
    | FS_MAKE_SOCK
    | FS_MAKE_FIFO
    | FS_MAKE_SYM
    | FS_REFER
    | FS_TRUNCATE
    | FS_IOCTL_DEV
)


class LandlockUnavailable(OSError):
    """The kernel has no Landlock (not built, or not in the ``lsm=`` list): ABI 0."""


class LandlockError(OSError):
    pass


class _RulesetAttr(ctypes.Structure):
    _fields_ = (("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64), ("scoped", ctypes.c_uint64))


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1  # __attribute__((packed)) in the uapi header: 12 bytes, not 16
    _fields_ = (("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32))


class _NetPortAttr(ctypes.Structure):
    _fields_ = (("allowed_access", ctypes.c_uint64), ("port", ctypes.c_uint64))


_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long


def _call(number: int, *args: object) -> int:
    result = _syscall(ctypes.c_long(number), *args)
    if result < 0:
        err = ctypes.get_errno()
        raise LandlockError(err, f"landlock syscall {number}: {os.strerror(err)}")
    return result


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 when unsupported (ENOSYS) or disabled (EOPNOTSUPP)."""
    try:
        return _call(SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(CREATE_RULESET_VERSION))
    except LandlockError:
        return 0


def landlock_errata() -> int:
    """Bitmask of Landlock fixes backported into this kernel (ABI >= 7; 0 before)."""
    try:
        return _call(SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(CREATE_RULESET_ERRATA))
    except LandlockError:
        return 0


def handled_fs(abi: int) -> int:
    return sum(bits for version, bits in _FS_BY_ABI.items() if version <= abi)


def restrict_self(
    read_only: Sequence[Path],
    read_execute: Sequence[Path],
    read_write: Sequence[Path],
    tcp_connect_ports: Iterable[int],
    allow_tcp_bind: bool = False,
    scope_signals: bool = True,
    scope_abstract_unix: bool = True,
    *,
    list_only: Sequence[Path] = (),
    tcp_connect_any: bool = False,
) -> str:
    """Restrict this process for good; return a one-line description of what is in force.

    ``list_only``: directories whose entries (names) may be listed, beneath them too, but no file
    read; the import system needs to list the project root and ``modules/`` to find packages.
    ``tcp_connect_any``: leave outgoing TCP unrestricted (the operator granted "network").
    Nonexistent paths are skipped and named in the description. Must be called while the process
    is single-threaded: Landlock restricts the calling thread only (before ABI 8's TSYNC flag).
    """
    abi = landlock_abi()
    if abi == 0:
        raise LandlockUnavailable("Landlock is not supported or not enabled by this kernel (ABI 0)")
    threads = _thread_count()
    if threads > 1:
        raise LandlockError(f"{threads} threads: Landlock would restrict only the calling one; restrict before starting threads")

    fs = handled_fs(abi)
    net = NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0
    if tcp_connect_any:
        net &= ~NET_CONNECT_TCP
    if allow_tcp_bind:
        net &= ~NET_BIND_TCP
    scoped = 0
    if abi >= 6:
        scoped = (SCOPE_SIGNAL if scope_signals else 0) | (SCOPE_ABSTRACT_UNIX_SOCKET if scope_abstract_unix else 0)
    # The struct grew with the ABI (fs; + net in 4; + scoped in 6); pass the size this kernel knows.
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    attr = _RulesetAttr(fs, net, scoped)
    ruleset = _call(SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    skipped: list[str] = []
    try:
        groups = ((list_only, FS_READ_DIR), (read_only, READ), (read_execute, READ_EXECUTE), (read_write, READ_WRITE))
        for paths, access in groups:
            for path in paths:
                if not _add_path_rule(ruleset, Path(path), access & fs):
                    skipped.append(str(path))
        ports = sorted({int(p) for p in tcp_connect_ports})
        if net & NET_CONNECT_TCP:
            for port in ports:
                if not 0 < port < 65536:
                    raise LandlockError(f"not a TCP port: {port}")
                rule = _NetPortAttr(NET_CONNECT_TCP, port)
                _call(SYS_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(RULE_NET_PORT), ctypes.byref(rule), ctypes.c_uint32(0))
        # Landlock refuses an unprivileged caller without no_new_privs; it is wanted anyway.
        set_no_new_privs()
        _call(SYS_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0))
    finally:
        os.close(ruleset)
    return _describe(abi, net, scoped, ports, tcp_connect_any, skipped)


def _add_path_rule(ruleset: int, path: Path, access: int) -> bool:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            access &= _FS_FILE_RIGHTS  # directory-only rights on a file are EINVAL
        if not access:
            return True
        rule = _PathBeneathAttr(access, fd)
        _call(SYS_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(RULE_PATH_BENEATH), ctypes.byref(rule), ctypes.c_uint32(0))
        return True
    finally:
        os.close(fd)


def _thread_count() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        import threading

        return threading.active_count()


def _describe(abi: int, net: int, scoped: int, ports: list[int], connect_any: bool, skipped: list[str]) -> str:
    parts = ["fs"]
    if abi < 4:
        parts.append("no tcp rules (needs ABI 4)")
    else:
        connect = "any" if connect_any else ",".join(map(str, ports)) or "none"
        parts.append(f"tcp connect={connect} bind={'denied' if net & NET_BIND_TCP else 'any'}")
    if abi < 6:
        parts.append("no scopes (needs ABI 6)")
    elif scoped:
        names = [n for bit, n in ((SCOPE_SIGNAL, "signals"), (SCOPE_ABSTRACT_UNIX_SOCKET, "abstract-unix")) if scoped & bit]
        parts.append("scopes " + "+".join(names))
    else:
        parts.append("no scopes (not asked for)")
    missing = [n for v, n in ((2, "refer"), (3, "truncate"), (5, "ioctl_dev")) if abi < v]
    if missing:
        # Without REFER (ABI 1) the kernel forbids every rename/link across folders: stricter, not looser.
        parts.append(f"fs without {','.join(missing)} (older ABI)")
    text = f"landlock abi {abi} ({'; '.join(parts)})"
    if skipped:
        text += f"; skipped missing paths: {', '.join(skipped)}"
    return text
