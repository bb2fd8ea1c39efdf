"""seccomp-bpf: refuse the syscalls that Landlock and the uid drop leave open to a module.

When the bot is not root, a module shares the host's uid, and the kernel's same-uid checks are
all that guards some syscalls that name another process by pid (``prlimit64``, ``setpriority``,
``sched_setaffinity``…) or change a file's attributes (``chmod``, ``utime``, xattrs: Landlock,
ABI <= 7, has no right for them). This filter closes those, whatever the uid, plus a list of
syscalls no module has any business with (mounts, kernel modules, namespaces, bpf, keyrings…).

The filter is hand-written classic BPF over ``struct seccomp_data``::

    int   nr;                   offset 0
    __u32 arch;                 offset 4
    __u64 instruction_pointer;  offset 8
    __u64 args[6];              offset 16 + 8 * i (low word; x86_64 is little-endian)

It is installed with ``seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC)`` so that it
applies to every thread of the process, and is inherited by every child; like Landlock it can
never be lifted. A refused syscall fails with EPERM (``clone3`` with ENOSYS, see below); nothing
is killed. Only x86_64 is supported: on another architecture the layer is reported as missing.

What is refused (``DENIED`` and ``_conditional_rules``):
- pid-addressed controls unless the target is the caller itself (pid argument 0 or the module
  process's own pid, embedded in the filter when it is built): ``prlimit64`` (reading too),
  ``setpriority`` and ``ioprio_set`` (and only for a process: for a process group or a user,
  ``who == 0`` would mean "the caller's group/user", i.e. the host),
  ``sched_setaffinity/setscheduler/setparam/setattr``, ``process_vm_readv/writev``;
- ``ptrace``, ``kcmp``, ``pidfd_getfd`` and ``process_madvise`` entirely;
- file attributes: the chmod, chown, utime and xattr-setting families (including ``fchmodat2``,
  ``setxattrat``, ``removexattrat``, ``file_setattr``) and the ``FS_IOC_SETFLAGS`` /
  ``FS_IOC_FSSETXATTR`` ioctls;
- mounts (old and new API), ``pivot_root``, swap, ``reboot``, ``kexec_*``, kernel modules,
  ``bpf``, ``perf_event_open``, ``userfaultfd``, keyrings, ``io_uring_*``;
- ``setsid`` and ``setpgid``: a module's processes stay in the process group the zygote gave it,
  which the host kills on stop, restart and crash (with or without a cgroup): a double fork
  cannot outlive the module. No upstream module needs either (exec is refused anyway);
- ``memfd_create``/``memfd_secret`` only with ``deny_memfd`` (the host cannot count them);
- namespaces: ``unshare``, ``setns``, and ``clone`` with any ``CLONE_NEW*`` flag. ``clone3``
  passes its flags in memory, out of a filter's reach: it fails with ENOSYS, on which glibc
  (pthread_create, posix_spawn) falls back to ``clone``;
- ``personality`` other than querying it (0xffffffff) or setting plain ``PER_LINUX`` (0);
- ``socket()`` of any family but ``AF_UNIX``, ``AF_INET`` and ``AF_INET6`` (packet, netlink,
  vsock, alg, bluetooth… sockets reach past Landlock; glibc's resolver, denied its netlink
  socket, assumes both address families); and, for a module granted no network (``deny_udp``),
  every ``AF_INET``/``AF_INET6`` socket but a TCP one (type ``SOCK_STREAM`` once the
  ``SOCK_NONBLOCK``/``SOCK_CLOEXEC`` flags are masked off, protocol 0 or ``IPPROTO_TCP``):
  Landlock (ABI <= 7) only governs TCP, so UDP, ICMP "ping" sockets, SCTP or raw sockets
  would otherwise reach any address (exfiltration, e.g. DNS tunnelling). ``AF_UNIX`` stays
  open (asyncio's ``socketpair``), and TCP stays under Landlock's per-port rules. Name
  resolution through DNS then fails too: it only matters to a module that has network;
- x32-ABI syscall numbers and any other architecture (e.g. ``int 0x80`` i386 calls), which
  would otherwise sidestep the numbers above;
- every syscall number above ``NEWEST_REVIEWED`` (the newest one this list was checked against)
  fails with ENOSYS, as on an older kernel: a syscall a newer kernel adds is refused until
  someone reviews it, instead of being allowed because the denylist predates it. Userspace
  already handles ENOSYS (glibc and CPython fall back, as they do for ``clone3``).

Why a denylist and not an allowlist: see docs/design-notes.md ("seccomp"). In short, module code
is arbitrary Python with arbitrary C extensions; the uid, Landlock and the rlimits confine it,
and this filter closes what those leave open.

What this costs Python code in a module: ``os.chmod``/``os.utime``/``os.chown``/xattrs fail
with PermissionError, even on the module's own files. ``shutil.copy``/``copy2``/``copytree``/
``copystat``/``copymode`` therefore fail (they copy the mode and times after the data):
``shutil.copyfile`` works. ``Path.touch()`` of an existing file succeeds but leaves its mtime.
``tarfile`` extraction cannot restore modes. SQLite ignores its failed ``fchmod`` of journals.
``setpriority``/``sched_setaffinity`` of one of its own threads by tid (not by 0) is refused.
Nothing in asyncio, threads, sockets, asyncpg, aiohttp or SQLAlchemy uses these.
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct

# struct seccomp_data offsets
_OFF_NR = 0
_OFF_ARCH = 4


def _arg(i: int) -> int:
    return 16 + 8 * i  # low 32 bits: every argument checked here is an int, a pid or an ioctl cmd


AUDIT_ARCH_X86_64 = 0xC000003E
X32_SYSCALL_BIT = 0x40000000

# classic BPF opcodes
BPF_LD_W_ABS = 0x00 | 0x00 | 0x20  # BPF_LD | BPF_W | BPF_ABS
BPF_JEQ_K = 0x05 | 0x10 | 0x00  # BPF_JMP | BPF_JEQ | BPF_K
BPF_JGE_K = 0x05 | 0x30 | 0x00  # BPF_JMP | BPF_JGE | BPF_K
BPF_JSET_K = 0x05 | 0x40 | 0x00  # BPF_JMP | BPF_JSET | BPF_K
BPF_RET_K = 0x06 | 0x00  # BPF_RET | BPF_K
BPF_ALU_AND_K = 0x04 | 0x50 | 0x00  # BPF_ALU | BPF_AND | BPF_K

SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
EPERM = 1
ENOSYS = 38
RET_EPERM = SECCOMP_RET_ERRNO | EPERM
RET_ENOSYS = SECCOMP_RET_ERRNO | ENOSYS

SYS_SECCOMP = 317  # x86_64
# The newest x86_64 syscall reviewed for DENIED: file_setattr (Linux 6.17; 6.18 adds none). Raise it
# only after reviewing every syscall up to the new number (add the dangerous ones to DENIED).
NEWEST_REVIEWED = 469
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_TSYNC = 1
BPF_MAXINSNS = 4096

# x86_64 syscall numbers refused outright.
DENIED: dict[str, int] = {
    "ptrace": 101,
    "kcmp": 312,
    # file attributes (Landlock ABI <= 7 has no right for these)
    "chmod": 90,
    "fchmod": 91,
    "fchmodat": 268,
    "fchmodat2": 452,
    "chown": 92,
    "fchown": 93,
    "lchown": 94,
    "fchownat": 260,
    "utime": 132,
    "utimes": 235,
    "futimesat": 261,
    "utimensat": 280,
    "setxattr": 188,
    "lsetxattr": 189,
    "fsetxattr": 190,
    "removexattr": 197,
    "lremovexattr": 198,
    "fremovexattr": 199,
    "setxattrat": 463,
    "removexattrat": 466,
    "file_setattr": 469,
    # mounts, the machine, the kernel
    "mount": 165,
    "umount2": 166,
    "pivot_root": 155,
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "mount_setattr": 442,
    "open_tree_attr": 467,
    "swapon": 167,
    "swapoff": 168,
    "reboot": 169,
    "kexec_load": 246,
    "kexec_file_load": 320,
    "init_module": 175,
    "finit_module": 313,
    "delete_module": 176,
    "bpf": 321,
    "perf_event_open": 298,
    "userfaultfd": 323,
    "keyctl": 250,
    "add_key": 248,
    "request_key": 249,
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
    # another process's descriptors and memory (a module sharing the bot's uid stays dumpable
    # while the host supervises its connects: sandbox/network/)
    "pidfd_getfd": 438,
    "process_madvise": 440,
    # its process group: a module's processes stay in the group the host kills on stop (containment)
    "setsid": 112,
    "setpgid": 109,
    # namespaces
    "unshare": 272,
    "setns": 308,
}

SYS_PRLIMIT64 = 302
SYS_SETPRIORITY = 141
SYS_IOPRIO_SET = 251
SYS_SCHED_SETPARAM = 142
SYS_SCHED_SETSCHEDULER = 144
SYS_SCHED_SETAFFINITY = 203
SYS_SCHED_SETATTR = 314
SYS_PROCESS_VM_READV = 310
SYS_PROCESS_VM_WRITEV = 311
SYS_PERSONALITY = 135
SYS_CLONE = 56
SYS_CLONE3 = 435
SYS_IOCTL = 16
SYS_SOCKET = 41
# Memory only a memory cgroup or a readable /proc/<pid>/fd can count (``deny_memfd``).
MEMFD_SYSCALLS = (319, 447)  # memfd_create, memfd_secret

AF_UNIX = 1
AF_INET = 2
AF_INET6 = 10
AF_PACKET = 17
SOCK_STREAM = 1
SOCK_TYPE_MASK = 0xF  # the rest of socket()'s type argument is SOCK_NONBLOCK | SOCK_CLOEXEC
IPPROTO_TCP = 6

PRIO_PROCESS = 0
IOPRIO_WHO_PROCESS = 1
PER_LINUX = 0
PERSONALITY_QUERY = 0xFFFFFFFF
# CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET
CLONE_NEW_ANY = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000
FS_IOC_SETFLAGS = 0x40086602
FS_IOC32_SETFLAGS = 0x40046602
FS_IOC_FSSETXATTR = 0x401C5820


class _SockFilter(ctypes.Structure):
    _fields_ = (("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32))


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter)))


# --- a tiny assembler: instructions may jump to labels, resolved to relative offsets ---------------


class _Program:
    def __init__(self) -> None:
        self.items: list[tuple] = []
        self._labels = 0

    def label(self) -> str:
        self._labels += 1
        return f"L{self._labels}"

    def here(self, name: str) -> None:
        self.items.append(("label", name))

    def load(self, offset: int) -> None:
        self.items.append(("op", BPF_LD_W_ABS, offset, 0, 0))

    def jump(self, code: int, k: int, jt: str | int = 0, jf: str | int = 0) -> None:
        self.items.append(("op", code, k, jt, jf))

    def and_k(self, mask: int) -> None:
        self.items.append(("op", BPF_ALU_AND_K, mask, 0, 0))

    def ret(self, value: int) -> None:
        self.items.append(("op", BPF_RET_K, value, 0, 0))

    def assemble(self) -> list[tuple[int, int, int, int]]:
        positions: dict[str, int] = {}
        index = 0
        for item in self.items:
            if item[0] == "label":
                positions[item[1]] = index
            else:
                index += 1
        out: list[tuple[int, int, int, int]] = []
        for item in self.items:
            if item[0] == "label":
                continue
            _, code, k, jt, jf = item
            here = len(out)
            offsets = []
            for target in (jt, jf):
                offset = target if isinstance(target, int) else positions[target] - here - 1
                if not 0 <= offset <= 255:
                    raise ValueError(f"seccomp: jump offset {offset} out of range")
                offsets.append(offset)
            out.append((code, offsets[0], offsets[1], k & 0xFFFFFFFF))
        if len(out) > BPF_MAXINSNS:
            raise ValueError("seccomp: filter too long")
        return out


def _rule_all_in(prog: _Program, conditions: list[tuple[int, tuple[int, ...]]]) -> None:
    """Allow when every (argument, allowed values) holds, else EPERM. Always returns."""
    deny, allow = prog.label(), prog.label()
    for arg, values in conditions:
        ok = prog.label()
        prog.load(_arg(arg))
        for value in values:
            prog.jump(BPF_JEQ_K, value, jt=ok)
        prog.jump(BPF_JEQ_K, 0, jt=deny, jf=deny)  # none matched (unconditional jump)
        prog.here(ok)
    prog.jump(BPF_JEQ_K, 0, jt=allow, jf=allow)
    prog.here(deny)
    prog.ret(RET_EPERM)
    prog.here(allow)
    prog.ret(SECCOMP_RET_ALLOW)


def _conditional_rules(pid: int) -> dict[int, list[tuple[int, tuple[int, ...]]]]:
    self_pid = (0, pid)
    return {
        SYS_PRLIMIT64: [(0, self_pid)],
        SYS_SETPRIORITY: [(0, (PRIO_PROCESS,)), (1, self_pid)],
        SYS_IOPRIO_SET: [(0, (IOPRIO_WHO_PROCESS,)), (1, self_pid)],
        SYS_SCHED_SETAFFINITY: [(0, self_pid)],
        SYS_SCHED_SETSCHEDULER: [(0, self_pid)],
        SYS_SCHED_SETPARAM: [(0, self_pid)],
        SYS_SCHED_SETATTR: [(0, self_pid)],
        # Its own memory only (a pointer does that too); never another process's.
        SYS_PROCESS_VM_READV: [(0, (pid,))],
        SYS_PROCESS_VM_WRITEV: [(0, (pid,))],
        SYS_PERSONALITY: [(0, (PERSONALITY_QUERY, PER_LINUX))],
    }


def build_filter(pid: int, deny_udp: bool = False, deny_memfd: bool = False) -> list[tuple[int, int, int, int]]:
    """The filter for a process whose own pid is ``pid``, as (code, jt, jf, k) instructions.

    ``deny_udp``: the module has no network; its only IP sockets are TCP ones (see the module doc).
    ``deny_memfd``: the host cannot count memory in memfds (no memory cgroup, and the module's
    /proc/<pid>/fd is closed to a host that is not root): refuse ``memfd_create``/``memfd_secret``.
    """
    prog = _Program()
    deny, allow, enosys = prog.label(), prog.label(), prog.label()
    prog.load(_OFF_ARCH)
    prog.jump(BPF_JEQ_K, AUDIT_ARCH_X86_64, jf=deny)
    prog.load(_OFF_NR)
    prog.jump(BPF_JGE_K, X32_SYSCALL_BIT, jt=deny)  # x32 ABI (and negative numbers)
    prog.jump(BPF_JGE_K, NEWEST_REVIEWED + 1, jt=enosys)  # not reviewed yet: as if the kernel lacked it
    for nr in sorted(set(DENIED.values()) | (set(MEMFD_SYSCALLS) if deny_memfd else set())):
        prog.jump(BPF_JEQ_K, nr, jt=deny)
    prog.jump(BPF_JEQ_K, SYS_CLONE3, jt=enosys)
    for nr, conditions in _conditional_rules(pid).items():
        skip = prog.label()
        prog.jump(BPF_JEQ_K, nr, jf=skip)
        _rule_all_in(prog, conditions)
        prog.here(skip)
    # clone: no new namespaces
    skip = prog.label()
    prog.jump(BPF_JEQ_K, SYS_CLONE, jf=skip)
    prog.load(_arg(0))
    prog.jump(BPF_JSET_K, CLONE_NEW_ANY, jt=deny, jf=allow)
    prog.here(skip)
    # ioctl: no inode flags or fsxattr changes
    skip = prog.label()
    prog.jump(BPF_JEQ_K, SYS_IOCTL, jf=skip)
    prog.load(_arg(1))
    for cmd in (FS_IOC_SETFLAGS, FS_IOC32_SETFLAGS, FS_IOC_FSSETXATTR):
        prog.jump(BPF_JEQ_K, cmd, jt=deny)
    prog.here(skip)
    # socket: unix, IPv4 and IPv6 only (no packet, netlink, vsock, alg, bluetooth…);
    # without network, no IP socket but TCP
    skip = prog.label()
    prog.jump(BPF_JEQ_K, SYS_SOCKET, jf=skip)
    prog.load(_arg(0))
    prog.jump(BPF_JEQ_K, AF_UNIX, jt=allow)
    if not deny_udp:
        prog.jump(BPF_JEQ_K, AF_INET, jt=allow)
        prog.jump(BPF_JEQ_K, AF_INET6, jt=allow, jf=deny)
    else:
        inet = prog.label()
        prog.jump(BPF_JEQ_K, AF_INET, jt=inet)
        prog.jump(BPF_JEQ_K, AF_INET6, jt=inet, jf=deny)
        prog.here(inet)
        prog.load(_arg(1))
        prog.and_k(SOCK_TYPE_MASK)
        prog.jump(BPF_JEQ_K, SOCK_STREAM, jf=deny)
        prog.load(_arg(2))
        prog.jump(BPF_JEQ_K, 0, jt=allow)
        prog.jump(BPF_JEQ_K, IPPROTO_TCP, jt=allow, jf=deny)
    prog.here(skip)
    prog.here(allow)
    prog.ret(SECCOMP_RET_ALLOW)
    prog.here(deny)
    prog.ret(RET_EPERM)
    prog.here(enosys)
    prog.ret(RET_ENOSYS)
    return prog.assemble()


def denied_count() -> int:
    """Syscalls refused outright or unless aimed at the caller itself (clone/ioctl/clone3 not counted)."""
    return len(set(DENIED.values())) + len(_conditional_rules(0))


def supported() -> bool:
    return platform.machine() in ("x86_64", "amd64") and struct.calcsize("P") == 8


def install(deny_udp: bool = False, deny_memfd: bool = False) -> str:
    """Install the filter on every thread of this process; irrevocable. Returns the report string.

    ``deny_udp``: refuse every IP socket but TCP (for a module granted no network).

    Needs no_new_privs already set (or CAP_SYS_ADMIN). Raises OSError when the kernel refuses.
    """
    if not supported():
        return f"NOT seccomp: unsupported architecture {platform.machine()} (the filter is x86_64-only)"
    instructions = build_filter(os.getpid(), deny_udp, deny_memfd)
    array = (_SockFilter * len(instructions))(*(_SockFilter(*insn) for insn in instructions))
    prog = _SockFprog(len(instructions), array)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    result = libc.syscall(
        ctypes.c_long(SYS_SECCOMP),
        ctypes.c_ulong(SECCOMP_SET_MODE_FILTER),
        ctypes.c_ulong(SECCOMP_FILTER_FLAG_TSYNC),
        ctypes.byref(prog),
    )
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"seccomp(SET_MODE_FILTER, TSYNC): {os.strerror(err)}")
    if result > 0:
        raise OSError(f"seccomp: thread {result} could not be synchronized to the filter")
    extras = (", no UDP" if deny_udp else "") + (", no memfd" if deny_memfd else "")
    return f"seccomp ({denied_count() + (len(MEMFD_SYSCALLS) if deny_memfd else 0)} syscalls denied{extras})"
