"""Handing accepted connections from the arbiter to its workers, least-loaded first.

Why not let every worker accept on the shared socket: the kernel then gives a connection to
whichever worker's loop wakes first, and asyncio accepts up to its backlog (128) connections per
wake-up. A webhook sender keeps its connections alive (Telegram keeps up to ``max_connections``
open and reuses them), so the few connections opened in one burst decide the whole split, for
as long as they live: a busy CI run sent every update of a test to one of two workers. Node's
``cluster`` module distributes from its primary for the same reason.

So the arbiter accepts, and deals each connection over a ``SOCK_SEQPACKET`` socket pair per
worker (the connection's descriptor in ``SCM_RIGHTS``; the arbiter's copy is closed once sent):

* to the worker with the fewest open connections, the least recently dealt one on a tie. Each
  worker reports ``(open, received)`` after taking connections and every 0.1 s when they changed;
  the arbiter counts what it dealt since, so a burst spreads before any report arrives;
* only to workers that serve (ready byte received) and are not stopping: the arbiter withdraws a
  worker *before* signalling it. Connections dealt just before are still in the worker's end of
  the pair; a stopping worker shuts its end for reading (a later send fails: the arbiter deals
  elsewhere) and takes them (``HandedConnectionsSite.stop``): they get the draining web server's
  answer — a request served, or 503 for a Telegram update, which Telegram redelivers — and none is
  reset. With no worker serving, the arbiter does not accept: connections wait in the kernel's
  queue (``LISTEN_BACKLOG``) for the next one;
* a worker whose queue is full (stuck) is skipped; one gone (crashed: the pair is broken) is
  withdrawn; any other error skips it for this connection only.

Both ends are ours: the reports are trusted, only their size is checked.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import errno
import itertools
import logging
import socket
import struct
from dataclasses import dataclass

from aiohttp import web

log = logging.getLogger("solobot.arbiter")

HANDOFF = b"c"  # one connection's descriptor rides with this byte
REPORT = struct.Struct("!QQ")  # worker -> arbiter: (connections open, connections received in all)
REPORT_EVERY = 0.1  # seconds: connections close on their own; the arbiter's counts follow (sent when changed)
RETRY_DEAL = 0.05  # seconds: every worker's queue full — the connection waits, then is dealt again
GONE = frozenset({errno.EPIPE, errno.ECONNRESET, errno.ECONNREFUSED, errno.ENOTCONN})  # the worker's end is closed


def channel_pair() -> tuple[socket.socket, socket.socket]:
    """(arbiter's end, worker's end): the worker's end goes to the worker process with ``pass_fds``,
    which makes it inheritable there only (never to another child of the arbiter)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ours.setblocking(False)
    return ours, theirs


@dataclass(eq=False)
class _Outlet:
    """A serving worker as the dealer sees it."""

    name: str
    channel: socket.socket
    dealt: int = 0  # connections sent to it
    reported_open: int = 0
    reported_received: int = 0
    last_dealt: int = 0  # order of the last connection dealt to it: ties go to the least recent

    @property
    def load(self) -> int:
        """Open connections: the worker's last report plus what was dealt since it was written."""
        return self.reported_open + self.dealt - self.reported_received


class ConnectionDealer:
    """The arbiter's side: ``await run()`` accepts on ``listener`` and deals to the admitted workers."""

    def __init__(self, listener: socket.socket) -> None:
        listener.setblocking(False)
        self.listener = listener
        self._outlets: dict[object, _Outlet] = {}
        self._someone_serves = asyncio.Event()
        self._order = itertools.count(1)
        self._last_accept_errno: int | None = None

    def admit(self, key: object, channel: socket.socket, name: str) -> None:
        """Deal to this worker from now on (it serves); ``key`` withdraws it later."""
        outlet = _Outlet(name, channel)
        self._outlets[key] = outlet
        asyncio.get_running_loop().add_reader(channel.fileno(), self._read_reports, key, outlet)
        self._someone_serves.set()

    def withdraw(self, key: object) -> None:
        """No more connections for this worker (stopping, or gone). What it holds already is its own to serve."""
        outlet = self._outlets.pop(key, None)
        if outlet is None:
            return
        asyncio.get_running_loop().remove_reader(outlet.channel.fileno())
        outlet.channel.close()
        if not self._outlets:
            self._someone_serves.clear()

    def loads(self) -> dict[str, int]:
        """Open connections per admitted worker, as the dealer estimates them (what tests check)."""
        return {outlet.name: outlet.load for outlet in self._outlets.values()}

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._someone_serves.wait()  # none serving: connections wait in the kernel's queue
            try:
                connection, _ = await loop.sock_accept(self.listener)
            except ConnectionAbortedError:
                continue  # the client gave up while it waited in the queue
            except OSError as exc:  # EMFILE, ENOBUFS...: the queue keeps the connection; try again shortly
                if exc.errno != self._last_accept_errno:  # once per kind of trouble, not 20 lines a second
                    log.error("arbiter: accepting a connection failed: %s", exc)
                self._last_accept_errno = exc.errno
                await asyncio.sleep(RETRY_DEAL)
                continue
            self._last_accept_errno = None
            with connection:  # our copy: the worker has its own once dealt
                await self._deal(connection)

    async def _deal(self, connection: socket.socket) -> None:
        while True:
            await self._someone_serves.wait()
            for key, outlet in sorted(self._outlets.items(), key=lambda item: (item[1].load, item[1].last_dealt)):
                try:
                    socket.send_fds(outlet.channel, [HANDOFF], [connection.fileno()])
                except BlockingIOError:
                    continue  # its queue is full: it is not taking connections now
                except OSError as exc:
                    if exc.errno in GONE:
                        log.warning("arbiter: %s no longer takes connections (%s)", outlet.name, exc)
                        self.withdraw(key)
                    else:  # ETOOMANYREFS, ENOBUFS...: a passing shortage, not the worker's end
                        log.warning("arbiter: handing a connection to %s failed: %s", outlet.name, exc)
                    continue
                outlet.dealt += 1
                outlet.last_dealt = next(self._order)
                return
            await asyncio.sleep(RETRY_DEAL)

    def _read_reports(self, key: object, outlet: _Outlet) -> None:
        while True:
            try:
                message = outlet.channel.recv(REPORT.size + 1)
            except BlockingIOError:
                return
            except OSError:
                message = b""
            if not message:  # the worker closed its end: it exits
                self.withdraw(key)
                return
            if len(message) == REPORT.size:
                outlet.reported_open, outlet.reported_received = REPORT.unpack(message)


class HandedConnectionsSite(web.BaseSite):
    """The worker's side: an aiohttp site serving the connections the arbiter hands over on ``channel``."""

    __slots__ = ("_channel", "_connecting", "_last_report", "_received", "_reporter")

    def __init__(self, runner: web.BaseRunner, channel: socket.socket) -> None:
        super().__init__(runner)
        channel.setblocking(False)
        self._channel = channel
        self._received = 0
        self._connecting: set[asyncio.Task[object]] = set()
        self._reporter: asyncio.Task[None] | None = None
        self._last_report = b""

    @property
    def name(self) -> str:
        return "connections handed over by the arbiter"

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        loop.add_reader(self._channel.fileno(), self._take)
        self._reporter = loop.create_task(self._report_periodically())

    async def stop(self) -> None:
        """Stop taking connections; the ones already handed over (in the channel) are taken, not reset."""
        loop = asyncio.get_running_loop()
        if self._reporter is not None:
            loop.remove_reader(self._channel.fileno())
            self._reporter.cancel()
            self._reporter = None
            # Closed for reading first: a connection the arbiter sends from now on fails there (it deals
            # it elsewhere) instead of landing here after the last read and being reset with the pair.
            with contextlib.suppress(OSError):
                self._channel.shutdown(socket.SHUT_RD)
            self._take(report=False)
            self._channel.close()
        await asyncio.gather(*self._connecting, return_exceptions=True)
        await super().stop()

    def _take(self, report: bool = True) -> None:
        taken = False
        while True:
            try:
                message, fds, truncated = _receive_connection(self._channel)
            except BlockingIOError:
                break
            except OSError:
                message, fds, truncated = b"", [], False
            if not message and not fds:  # the arbiter closed its end (it withdrew us, or it is gone)
                with contextlib.suppress(ValueError, OSError):
                    asyncio.get_running_loop().remove_reader(self._channel.fileno())
                break
            if truncated:  # the kernel dropped the descriptor: this process is at its open-files limit
                log.error("a connection handed over by the arbiter was lost: too many open files in this worker")
            for fd in fds:
                self._serve(socket.socket(fileno=fd))
            self._received += 1  # counted when lost too: the arbiter's estimate of our load stays right
            taken = True
        if taken and report:
            self._report()

    def _serve(self, connection: socket.socket) -> None:
        server = self._runner.server
        assert server is not None  # a site exists only after runner.setup()
        task = asyncio.get_running_loop().create_task(self._connect(server, connection))
        self._connecting.add(task)
        task.add_done_callback(self._connecting.discard)

    @staticmethod
    async def _connect(server: web.Server, connection: socket.socket) -> None:
        try:
            await asyncio.get_running_loop().connect_accepted_socket(server, connection)
        except OSError as exc:  # the peer left before we started serving it
            log.debug("a handed-over connection closed before it was served: %s", exc)
            connection.close()
        except BaseException:
            connection.close()
            raise

    def _report(self) -> None:
        server = self._runner.server
        open_now = (len(server.connections) if server is not None else 0) + len(self._connecting)
        report = REPORT.pack(open_now, self._received)
        if report == self._last_report:
            return
        try:
            self._channel.send(report)
        except OSError:  # the arbiter is busy (the next report says it) or closed its end (no more dealing)
            return
        self._last_report = report

    async def _report_periodically(self) -> None:
        while True:
            await asyncio.sleep(REPORT_EVERY)
            self._report()


def _receive_connection(channel: socket.socket) -> tuple[bytes, list[int], bool]:
    """One hand-over: (its byte, the descriptors it carried, whether the kernel had to drop one).

    ``socket.recv_fds`` cannot ask for close-on-exec; ``MSG_CMSG_CLOEXEC`` makes the descriptors
    close-on-exec from the start, so no process this worker starts can inherit a connection.
    """
    fds = array.array("i")
    message, ancillary, flags, _address = channel.recvmsg(len(HANDOFF), socket.CMSG_SPACE(fds.itemsize), socket.MSG_CMSG_CLOEXEC)
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
    return message, list(fds), bool(flags & socket.MSG_CTRUNC)
