"""In the module process: hand every connect() (and UDP send to an address) to the host's supervisor.

Landlock (ABI <= 7) has rules for TCP ports, not addresses, and a seccomp filter cannot read the
``sockaddr`` a pointer argument points to. So a second filter answers those syscalls with
``SECCOMP_RET_USER_NOTIF``: the calling thread waits while the host's supervisor
(``sandbox/network/supervisor.py``) reads the address, decides, and — when it is allowed — does
the connect itself on the module's own socket (obtained with ``pidfd_getfd``; the file
description is shared, so the module's socket is the one connected). The address the kernel
uses is the supervisor's copy: rewriting the ``sockaddr`` after the check changes nothing.

What the filter sends to the supervisor, and what it settles itself:

- ``connect``: always (a unix socket too: the supervisor refuses it, see there);
- ``MSG_FASTOPEN`` on ``sendto``/``sendmsg``/``sendmmsg`` and ``setsockopt(IPPROTO_TCP,
  TCP_FASTOPEN_CONNECT)``: EPERM (TCP Fast Open connects to the address given to the *send*);
- with UDP (``network = true``): ``sendto`` with an address and every ``sendmsg`` go to the
  supervisor, which sends itself, with its copy of the data and a checked address;
  ``sendmmsg`` fails with ENOSYS (glibc's resolver then falls back to ``send``).
  Without UDP the module has only TCP and unix sockets, and TCP ignores a send's address.

The listener is handed to the host over ``handover`` (a unix socket the zygote passed in) by a
helper thread started *before* the filter: the filter is installed without TSYNC, so it binds
the calling thread (and every thread and process created after it) and not the helper, whose
own ``sendmsg`` therefore cannot wait on a supervisor that has no listener yet. The helper is
joined and the module process keeps no copy of the listener (with it, it could answer its own
connects).
"""

from __future__ import annotations

import ctypes
import os
import socket
import threading

from sandbox import seccomp

SECCOMP_RET_USER_NOTIF = 0x7FC00000
SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3
SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV = 1 << 5  # 5.19: once the supervisor has it, only SIGKILL interrupts

SYS_CONNECT = 42
SYS_SENDTO = 44
SYS_SENDMSG = 46
SYS_SETSOCKOPT = 54
SYS_SENDMMSG = 307
MSG_FASTOPEN = 0x20000000
IPPROTO_TCP = 6
TCP_FASTOPEN_CONNECT = 30


def build_filter(udp: bool) -> list[tuple[int, int, int, int]]:
    """The notify filter as (code, jt, jf, k) instructions (x86_64; the base filter refuses other ABIs)."""
    prog = seccomp._Program()
    allow, deny, notify, enosys = prog.label(), prog.label(), prog.label(), prog.label()
    to_sendto, to_sendmsg, to_sendmmsg, to_setsockopt = prog.label(), prog.label(), prog.label(), prog.label()
    prog.load(seccomp._OFF_ARCH)
    prog.jump(seccomp.BPF_JEQ_K, seccomp.AUDIT_ARCH_X86_64, jf=allow)
    prog.load(seccomp._OFF_NR)
    prog.jump(seccomp.BPF_JEQ_K, SYS_CONNECT, jt=notify)
    prog.jump(seccomp.BPF_JEQ_K, SYS_SENDTO, jt=to_sendto)
    prog.jump(seccomp.BPF_JEQ_K, SYS_SENDMSG, jt=to_sendmsg)
    prog.jump(seccomp.BPF_JEQ_K, SYS_SENDMMSG, jt=to_sendmmsg)
    prog.jump(seccomp.BPF_JEQ_K, SYS_SETSOCKOPT, jt=to_setsockopt, jf=allow)

    prog.here(to_sendto)  # sendto(fd, buf, len, flags, addr, addrlen)
    prog.load(seccomp._arg(3))
    prog.jump(seccomp.BPF_JSET_K, MSG_FASTOPEN, jt=deny)
    if udp:
        prog.load(seccomp._arg(4))
        prog.jump(seccomp.BPF_JEQ_K, 0, jf=notify)
        prog.load(seccomp._arg(4) + 4)  # the pointer's high word
        prog.jump(seccomp.BPF_JEQ_K, 0, jt=allow, jf=notify)
    else:
        prog.jump(seccomp.BPF_JEQ_K, 0, jt=allow, jf=allow)

    prog.here(to_sendmsg)  # sendmsg(fd, msg, flags)
    prog.load(seccomp._arg(2))
    prog.jump(seccomp.BPF_JSET_K, MSG_FASTOPEN, jt=deny, jf=notify if udp else allow)

    prog.here(to_sendmmsg)  # sendmmsg(fd, msgvec, vlen, flags)
    prog.load(seccomp._arg(3))
    prog.jump(seccomp.BPF_JSET_K, MSG_FASTOPEN, jt=deny, jf=enosys if udp else allow)

    prog.here(to_setsockopt)  # setsockopt(fd, level, optname, ...)
    prog.load(seccomp._arg(1))
    prog.jump(seccomp.BPF_JEQ_K, IPPROTO_TCP, jf=allow)
    prog.load(seccomp._arg(2))
    prog.jump(seccomp.BPF_JEQ_K, TCP_FASTOPEN_CONNECT, jt=deny, jf=allow)

    prog.here(allow)
    prog.ret(seccomp.SECCOMP_RET_ALLOW)
    prog.here(notify)
    prog.ret(SECCOMP_RET_USER_NOTIF)
    prog.here(deny)
    prog.ret(seccomp.RET_EPERM)
    prog.here(enosys)
    prog.ret(seccomp.RET_ENOSYS)
    return prog.assemble()


def _install(instructions: list[tuple[int, int, int, int]]) -> int:
    """Install on the calling thread only; return the listener fd."""
    array = (seccomp._SockFilter * len(instructions))(*(seccomp._SockFilter(*insn) for insn in instructions))
    prog = seccomp._SockFprog(len(instructions), array)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    for flags in (
        SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
        SECCOMP_FILTER_FLAG_NEW_LISTENER,  # kernels before 5.19
    ):
        fd = libc.syscall(
            ctypes.c_long(seccomp.SYS_SECCOMP),
            ctypes.c_ulong(seccomp.SECCOMP_SET_MODE_FILTER),
            ctypes.c_ulong(flags),
            ctypes.byref(prog),
        )
        if fd >= 0:
            return int(fd)
        err = ctypes.get_errno()
        if err != 22:  # EINVAL: the flag is unknown to this kernel, try without it
            break
    raise OSError(err, f"seccomp(SET_MODE_FILTER, NEW_LISTENER): {os.strerror(err)}")


def install(handover_fd: int, udp: bool) -> str:
    """Install the notify filter on this (single-threaded) process and hand its listener to the host."""
    if threading.active_count() != 1:
        raise RuntimeError(f"the notify filter needs a single-threaded process, found {threading.active_count()} threads")
    handover = socket.socket(fileno=handover_fd)
    listener: list[int] = []
    ready = threading.Event()
    outcome: list[BaseException | None] = []

    def hand_over() -> None:  # not bound by the filter: started before it exists
        ready.wait()
        try:
            socket.send_fds(handover, [b"listener"], listener)
            outcome.append(None)
        except BaseException as exc:  # reported by the main thread
            outcome.append(exc)

    helper = threading.Thread(target=hand_over, name="notify-handover")
    helper.start()
    try:
        listener.append(_install(build_filter(udp)))
    finally:
        ready.set()
        helper.join()
        handover.close()
        for fd in listener:
            os.close(fd)  # the host holds it now; the module must not
    if not outcome or outcome[0] is not None:
        raise RuntimeError(f"the notify listener could not be handed to the host: {outcome[0] if outcome else 'no listener'}")
    return "network by address: connect() checked by the host" + (" (UDP sends too)" if udp else "")
