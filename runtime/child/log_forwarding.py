"""Send this process's log records, and what it writes to stdout/stderr, to the host.

The host tags every line with the module's name and rate-limits it (``runtime.supervision.module_logs``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections import deque

from ipc import Peer

MAX_LOG_MESSAGE = 8_000


class ForwardToHost(logging.Handler):
    def __init__(self, peer: Peer) -> None:
        super().__init__(logging.DEBUG)
        self.peer = peer

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record)
            self.peer.notify(
                "log",
                {"level": record.levelno, "logger": record.name, "message": message[:MAX_LOG_MESSAGE], "time": record.created},
            )
        except Exception:
            self.handleError(record)


class OutputForwarder:
    """Drain the pipe behind fds 1 and 2 (set up by the zygote) and log each line.

    A daemon thread reads the pipe as fast as the module writes to it, so a module that prints
    more than a pipe holds (64 KiB) without yielding to its event loop does not block on its own
    stdout. The thread keeps at most ``MAX_PENDING`` lines and counts the ones beyond; the event
    loop takes them in batches (``call_soon_threadsafe``) and logs each to the ``stdout`` logger
    (INFO), so they reach the host like any log record ("N lines of output dropped" first). A line
    longer than ``MAX_LOG_MESSAGE`` is cut; the host's rate limit applies as to every record.

    :meth:`attach` starts the thread: call it only after the sandbox is applied (Landlock
    refuses to confine a process that already has threads).
    """

    MAX_PENDING = 1_000

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._log = logging.getLogger("stdout")
        self._lock = threading.Lock()
        self._pending: deque[bytes] = deque()
        self._dropped = 0
        self._scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        os.set_blocking(self.fd, True)  # the zygote made it non-blocking; the thread waits in read()
        threading.Thread(target=self._drain, name="solobot-output", daemon=True).start()

    def _drain(self) -> None:
        """In the thread: read until the pipe closes, queue complete lines."""
        partial = b""
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except InterruptedError:
                continue
            except OSError:
                return
            if not chunk:
                return
            *lines, partial = (partial + chunk).split(b"\n")
            if len(partial) > MAX_LOG_MESSAGE:
                lines.append(partial)
                partial = b""
            lines = [line[:MAX_LOG_MESSAGE] for line in lines if line.strip()]
            if lines:
                self._queue(lines)

    def _queue(self, lines: list[bytes]) -> None:
        with self._lock:
            room = max(0, self.MAX_PENDING - len(self._pending))
            self._pending.extend(lines[:room])
            self._dropped += len(lines) - min(room, len(lines))
            if self._scheduled:
                return
            self._scheduled = True
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(self._flush)
        except RuntimeError:
            pass  # the loop is closed: the process is exiting

    def _flush(self) -> None:
        """On the event loop: log what the thread queued since the last batch."""
        with self._lock:
            lines, self._pending = self._pending, deque()
            dropped, self._dropped = self._dropped, 0
            self._scheduled = False
        if dropped:  # first, so the host's rate limit does not swallow it behind the lines
            self._log.warning(
                "%d lines of output dropped: printed faster than they could be logged (the %d before them follow)",
                dropped,
                len(lines),
            )
        for line in lines:
            self._log.info("%s", line.decode("utf-8", "replace"))
