"""In the host: answer a module's supervised socket syscalls (``notify_filter.py``) by address.

One thread per module process: it receives the seccomp listener over the hand-over socket, then
waits on it (``poll``) and answers each notification. Everything runs off the host's event
loop, so a module whose blocking connect takes a minute only delays its own next connect.

For a ``connect`` it reads the ``sockaddr`` from the module's memory (``process_vm_readv``),
takes the module's socket with ``pidfd_getfd`` and checks the notification is still live (the
thread is still waiting: the pid is not a recycled one). An allowed address is connected *by the
supervisor* on that socket with its own copy of the address — the file description is the
module's, so the module's socket is the one connected, and a non-blocking one answers
EINPROGRESS as usual. A refused one answers EACCES, logged with the module's name, the address
and the port. A unix socket's connect is refused too: the supervisor would connect as the host,
past the module's Landlock rules (and ``SECCOMP_USER_NOTIF_FLAG_CONTINUE`` would let the module
swap the fd between check and connect); module processes need no unix connect.

``sendto`` with an address and ``sendmsg`` (only for a module with UDP) are likewise sent by the
supervisor itself with its copy of the data and a checked address; control messages are refused.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from . import syscalls
from .destinations import NetworkRules, canonical

log = logging.getLogger("solobot.sandbox")

HANDOVER_TIMEOUT = 60.0  # the module process applies its sandbox in well under a second
MAX_SOCKADDR = 128  # sizeof(struct sockaddr_storage)
MAX_DATAGRAM = 65535
MAX_STREAM_CHUNK = 256 * 1024  # a stream send may be partial: the rest is the caller's next send
MAX_IOVECS = 1024  # IOV_MAX
CHECKS_PER_SECOND = 5000.0  # a module's supervised syscalls the host serves per second (then it waits)
CHECKS_BURST = 1000.0
LOG_BURST = 20  # refusal lines per LOG_WINDOW seconds, then one summary line
LOG_WINDOW = 10.0
MSG_FASTOPEN = 0x20000000


class Refused(Exception):
    """A syscall the module may not make: ``errno`` for the module, ``reason`` for the log."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass
class Pacer:
    """A token bucket the supervisor thread waits on: a module looping on connect() costs the host
    at most ``rate`` checks a second (each ~10 µs of Python holding the GIL the host's loop needs),
    and only that module's own syscalls wait."""

    rate: float = CHECKS_PER_SECOND
    burst: float = CHECKS_BURST
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _tokens: float = -1.0
    _last: float = 0.0

    def wait(self) -> None:
        now = self.clock()
        if self._tokens < 0:  # first use
            self._tokens, self._last = self.burst, now
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens < 1:
            self.sleep((1 - self._tokens) / self.rate)
            self._tokens, self._last = 1.0, self.clock()
        self._tokens -= 1


@dataclass
class NetworkCounters:
    allowed: int = 0
    refused: int = 0
    last_refused: str = ""
    seconds_in_checks: float = 0.0


@dataclass
class NetworkSupervisor:
    module: str
    rules: NetworkRules
    handover: socket.socket
    counters: NetworkCounters = field(default_factory=NetworkCounters)
    pacer: Pacer = field(default_factory=Pacer)
    _thread: threading.Thread | None = None
    _wake: tuple[int, int] | None = None
    _wake_lock: threading.Lock = field(default_factory=threading.Lock)
    _logged: list[float] = field(default_factory=list)
    _unix_paths: set[bytes] = field(default_factory=set)
    _unlogged: int = 0

    def start(self) -> None:
        self._wake = os.pipe()
        self._thread = threading.Thread(target=self._run, name=f"net-{self.module}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving (the module's supervised syscalls then fail with ENOSYS); idempotent."""
        with self._wake_lock:  # never write to the pipe's numbers once the thread closed them
            if self._wake is not None:
                os.write(self._wake[1], b"x")

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    # ------------------------------------------------------------------ the thread

    def _run(self) -> None:
        assert self._wake is not None
        listener = self._receive_listener()
        try:
            if listener is not None:
                self._serve(listener)
        except Exception:
            log.exception("[module %s] network supervisor failed; its connects now fail (ENOSYS)", self.module)
        finally:
            if listener is not None:
                os.close(listener)
            with self._wake_lock:
                for fd in self._wake:
                    os.close(fd)
                self._wake = None

    def _receive_listener(self) -> int | None:
        self.handover.settimeout(HANDOVER_TIMEOUT)
        try:
            _data, fds, _flags, _address = socket.recv_fds(self.handover, 16, 1)
        except OSError as exc:
            log.warning("[module %s] network supervisor: no listener from the module process: %s", self.module, exc)
            return None
        finally:
            self.handover.close()
        return fds[0] if fds else None  # none: the process failed its sandbox and says so itself

    def _serve(self, listener: int) -> None:
        assert self._wake is not None
        poller = select.poll()
        poller.register(listener, select.POLLIN)
        poller.register(self._wake[0], select.POLLIN)
        while True:
            events = dict(poller.poll())
            if self._wake[0] in events:
                return
            event = events.get(listener, 0)
            if event & select.POLLIN:
                try:
                    notif = syscalls.notif_recv(listener)
                except OSError as exc:
                    if exc.errno in (errno.ENOENT, errno.EINTR):  # the caller went away first
                        continue
                    raise
                self.pacer.wait()
                self._answer(listener, notif)
            elif event & (select.POLLHUP | select.POLLERR):
                return  # every process of the filter has exited

    def _answer(self, listener: int, notif: syscalls.SeccompNotif) -> None:
        started = time.perf_counter()
        try:
            value = self._handle(listener, notif)
            error = 0
        except Refused as refusal:
            value, error = 0, -refusal.code
            if refusal.reason:
                self.counters.refused += 1
                self.counters.last_refused = refusal.reason
                self._log_refusal(refusal.reason)
        except OSError as exc:  # the module's memory or socket could not be read: the call fails
            value, error = 0, -(exc.errno or errno.EFAULT)
        except Exception:  # a bug here must refuse the call, not end the supervision (ENOSYS for good)
            log.exception("[module %s] network: could not check syscall %d; refused", self.module, notif.data.nr)
            value, error = 0, -errno.EACCES
        self.counters.seconds_in_checks += time.perf_counter() - started
        if value < 0:
            value, error = 0, value
        try:
            syscalls.notif_send(listener, notif.id, value, error)
        except OSError as exc:
            if exc.errno != errno.ENOENT:  # ENOENT: the caller was killed meanwhile
                raise

    def _log_refusal(self, reason: str) -> None:
        now = time.monotonic()
        self._logged = [t for t in self._logged if now - t < LOG_WINDOW]
        if len(self._logged) >= LOG_BURST:
            self._unlogged += 1
            return
        if self._unlogged:
            log.warning("[module %s] network: %d more refusals not logged one by one", self.module, self._unlogged)
            self._unlogged = 0
        self._logged.append(now)
        log.warning("[module %s] network: refused %s", self.module, reason)

    # ------------------------------------------------------------------ one syscall

    def _handle(self, listener: int, notif: syscalls.SeccompNotif) -> int:
        args = notif.data.args
        pidfd = syscalls.pidfd_open_thread(notif.pid)
        try:
            if not syscalls.notif_id_valid(listener, notif.id):
                raise Refused(errno.EINTR, "")  # the caller is gone; nobody reads the answer
            sock = socket.socket(fileno=syscalls.pidfd_getfd(pidfd, int(args[0]) & 0xFFFFFFFF))
        finally:
            os.close(pidfd)
        with sock:
            nr = notif.data.nr
            if nr == 42:
                return self._connect(notif, sock, args[1], args[2])
            if nr == 44:
                return self._sendto(notif, sock, args[1], args[2], int(args[3]), args[4], args[5])
            if nr == 46:
                return self._sendmsg(notif, sock, args[1], int(args[2]))
            raise Refused(errno.ENOSYS, f"unexpected syscall {nr}")

    def _address(self, notif: syscalls.SeccompNotif, sock: socket.socket, pointer: int, length: int, what: str) -> bytes:
        """The module's ``sockaddr``, copied, after checking it is allowed (else :class:`Refused`)."""
        if sock.family == socket.AF_UNIX:
            raise self._unix_refusal(notif, pointer, length, what)
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            raise Refused(errno.EACCES, f"{what} on a {sock.family.name} socket (only IP sockets are supervised)")
        if not 0 < length <= MAX_SOCKADDR:
            raise Refused(errno.EINVAL, "")
        raw = syscalls.read_memory(notif.pid, pointer, length)
        family = struct.unpack_from("=H", raw)[0] if length >= 2 else -1
        if family == socket.AF_UNSPEC:
            return raw  # connect(AF_UNSPEC): dissolve the association, reaches nobody
        if family == socket.AF_INET and length >= 16:
            port = struct.unpack_from("!H", raw, 2)[0]
            address: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.IPv4Address(raw[4:8])
        elif family == socket.AF_INET6 and length >= 24:
            port = struct.unpack_from("!H", raw, 2)[0]
            address = ipaddress.IPv6Address(raw[8:24])
        else:
            raise Refused(errno.EAFNOSUPPORT, "")
        kind = "udp" if sock.type == socket.SOCK_DGRAM else "tcp"
        address = canonical(address)
        endpoint = f"[{address}]:{port}" if address.version == 6 else f"{address}:{port}"
        if not self.rules.allows(address, port):
            raise Refused(errno.EACCES, f"{what} to {endpoint} ({kind}): not the database server or a granted destination")
        self.counters.allowed += 1
        return raw

    def _unix_refusal(self, notif: syscalls.SeccompNotif, pointer: int, length: int, what: str) -> Refused:
        """Unix sockets are refused; logged once per path (glibc asks nscd's socket at every name lookup)."""
        path = syscalls.read_memory(notif.pid, pointer + 2, max(0, min(int(length), MAX_SOCKADDR) - 2)) if length > 2 else b""
        path = path.split(b"\0", 1)[0] if not path.startswith(b"\0") else b"@" + path[1:].split(b"\0", 1)[0]
        if path in self._unix_paths or len(self._unix_paths) >= 64:
            return Refused(errno.EACCES, "")
        self._unix_paths.add(path)
        shown = path.decode(errors="replace")
        return Refused(errno.EACCES, f"{what} to unix socket {shown!r} (modules reach only IP destinations; logged once)")

    def _connect(self, notif: syscalls.SeccompNotif, sock: socket.socket, pointer: int, length: int) -> int:
        return syscalls.connect_raw(sock.fileno(), self._address(notif, sock, pointer, int(length), "connect"))

    def _sendto(
        self, notif: syscalls.SeccompNotif, sock: socket.socket, buf: int, length: int, flags: int, pointer: int, size: int
    ) -> int:
        if pointer == 0:  # the filter sends only calls with an address; a NULL one needs no check
            return syscalls.sendto_raw(
                sock.fileno(), syscalls.read_memory(notif.pid, buf, self._size(sock, int(length))), flags, None
            )
        address: bytes | None = self._address(notif, sock, pointer, int(size), "sendto")
        data = syscalls.read_memory(notif.pid, buf, self._size(sock, int(length)))
        if sock.type == socket.SOCK_STREAM:
            address = None  # TCP ignores a send's address (Fast Open is refused by the filter)
        return syscalls.sendto_raw(sock.fileno(), data, flags & ~MSG_FASTOPEN, address)

    def _sendmsg(self, notif: syscalls.SeccompNotif, sock: socket.socket, pointer: int, flags: int) -> int:
        header = syscalls.read_memory(notif.pid, pointer, 56)  # struct msghdr
        name, name_length, iov, iov_count, _control, control_length = struct.unpack_from("=QI4xQQQQ", header)
        if control_length:
            raise Refused(errno.EACCES, "sendmsg with control data (ancillary messages are not supervised)")
        if iov_count > MAX_IOVECS:
            raise Refused(errno.EMSGSIZE, "")
        vectors = syscalls.read_memory(notif.pid, iov, 16 * iov_count)
        budget = self._size(sock, sum(struct.unpack_from("=QQ", vectors, 16 * i)[1] for i in range(iov_count)))
        chunks = []
        for i in range(iov_count):
            base, size = struct.unpack_from("=QQ", vectors, 16 * i)
            take = min(size, budget)
            chunks.append(syscalls.read_memory(notif.pid, base, take))
            budget -= take
        data = b"".join(chunks)
        address = self._address(notif, sock, name, name_length, "sendmsg") if name else None
        if address is not None and sock.type == socket.SOCK_STREAM:
            address = None
        return syscalls.sendto_raw(sock.fileno(), data, flags & ~MSG_FASTOPEN, address)

    @staticmethod
    def _size(sock: socket.socket, length: int) -> int:
        if sock.type == socket.SOCK_STREAM:
            return min(length, MAX_STREAM_CHUNK)
        if length > MAX_DATAGRAM:
            raise Refused(errno.EMSGSIZE, "")
        return length
