"""The few syscalls the network supervisor needs that Python's ``os`` lacks (x86_64 numbers)."""

from __future__ import annotations

import ctypes
import os

SYS_PIDFD_OPEN = 434
SYS_PIDFD_GETFD = 438
PIDFD_THREAD = os.O_EXCL  # 6.9: a pidfd for a thread that is not its process's leader

SECCOMP_IOCTL_NOTIF_RECV = 0xC0502100  # _IOWR('!', 0, struct seccomp_notif)
SECCOMP_IOCTL_NOTIF_SEND = 0xC0182101  # _IOWR('!', 1, struct seccomp_notif_resp)
SECCOMP_IOCTL_NOTIF_ID_VALID = 0x40082102  # _IOW('!', 2, __u64)
SECCOMP_USER_NOTIF_FLAG_CONTINUE = 1

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.process_vm_readv.restype = ctypes.c_ssize_t
_libc.connect.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32)
_libc.sendto.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32)
_libc.sendto.restype = ctypes.c_ssize_t


class SeccompData(ctypes.Structure):
    _fields_ = (("nr", ctypes.c_int32), ("arch", ctypes.c_uint32), ("ip", ctypes.c_uint64), ("args", ctypes.c_uint64 * 6))


class SeccompNotif(ctypes.Structure):
    _fields_ = (("id", ctypes.c_uint64), ("pid", ctypes.c_uint32), ("flags", ctypes.c_uint32), ("data", SeccompData))


class SeccompNotifResp(ctypes.Structure):
    _fields_ = (("id", ctypes.c_uint64), ("val", ctypes.c_int64), ("error", ctypes.c_int32), ("flags", ctypes.c_uint32))


class _IoVec(ctypes.Structure):
    _fields_ = (("base", ctypes.c_void_p), ("len", ctypes.c_size_t))


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def notif_recv(listener: int) -> SeccompNotif:
    notif = SeccompNotif()  # the kernel insists on a zeroed buffer
    _check(
        _libc.ioctl(ctypes.c_int(listener), ctypes.c_ulong(SECCOMP_IOCTL_NOTIF_RECV), ctypes.byref(notif)),
        "SECCOMP_IOCTL_NOTIF_RECV",
    )
    return notif


def notif_send(listener: int, notif_id: int, val: int = 0, error: int = 0, flags: int = 0) -> None:
    resp = SeccompNotifResp(notif_id, val, error, flags)
    _check(
        _libc.ioctl(ctypes.c_int(listener), ctypes.c_ulong(SECCOMP_IOCTL_NOTIF_SEND), ctypes.byref(resp)),
        "SECCOMP_IOCTL_NOTIF_SEND",
    )


def notif_id_valid(listener: int, notif_id: int) -> bool:
    value = ctypes.c_uint64(notif_id)
    return _libc.ioctl(ctypes.c_int(listener), ctypes.c_ulong(SECCOMP_IOCTL_NOTIF_ID_VALID), ctypes.byref(value)) == 0


def pidfd_open_thread(tid: int) -> int:
    """A pidfd for the thread ``tid`` (any thread: PIDFD_THREAD, else its process's leader via /proc)."""
    fd = _libc.syscall(ctypes.c_long(SYS_PIDFD_OPEN), ctypes.c_int(tid), ctypes.c_uint(PIDFD_THREAD))
    if fd >= 0:
        return int(fd)
    if ctypes.get_errno() != 22:  # EINVAL: a kernel before 6.9
        _check(-1, f"pidfd_open({tid})")
    with open(f"/proc/{tid}/status", encoding="ascii") as status:
        tgid = next(int(line.split()[1]) for line in status if line.startswith("Tgid:"))
    return os.pidfd_open(tgid)


def pidfd_getfd(pidfd: int, target_fd: int) -> int:
    return _check(
        _libc.syscall(ctypes.c_long(SYS_PIDFD_GETFD), ctypes.c_int(pidfd), ctypes.c_int(target_fd), ctypes.c_uint(0)),
        "pidfd_getfd",
    )


def read_memory(pid: int, address: int, length: int) -> bytes:
    """``length`` bytes of process ``pid`` at ``address`` (EFAULT when not all of them are readable)."""
    if length == 0:
        return b""
    buffer = ctypes.create_string_buffer(length)
    local = _IoVec(ctypes.cast(buffer, ctypes.c_void_p), length)
    remote = _IoVec(address, length)
    got = _check(
        _libc.process_vm_readv(
            ctypes.c_int(pid), ctypes.byref(local), ctypes.c_ulong(1), ctypes.byref(remote), ctypes.c_ulong(1), ctypes.c_ulong(0)
        ),
        "process_vm_readv",
    )
    if got != length:
        raise OSError(14, "process_vm_readv: partial read")
    return buffer.raw


def connect_raw(fd: int, address: bytes) -> int:
    """connect(2) with the exact ``sockaddr`` bytes; 0 or -errno."""
    return 0 if _libc.connect(fd, address, len(address)) == 0 else -ctypes.get_errno()


def sendto_raw(fd: int, data: bytes, flags: int, address: bytes | None) -> int:
    """sendto(2); the count sent or -errno."""
    sent = _libc.sendto(fd, data, len(data), flags, address, len(address) if address else 0)
    return int(sent) if sent >= 0 else -ctypes.get_errno()
