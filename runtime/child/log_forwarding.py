"""Send this process's log records, and what it writes to stdout/stderr, to the host.

The host tags every line with the module's name and rate-limits it (``runtime.module_logs``).
"""

from __future__ import annotations

import asyncio
import logging
import os

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
    """Read the pipe behind fds 1 and 2 (set up by the zygote) and log each line.

    Lines go to the ``stdout`` logger (INFO), so they reach the host like any log record. A
    line longer than ``MAX_LOG_MESSAGE`` is cut; a flood is dropped by the host's rate limit
    (and, should this loop fall behind, the writer blocks on the full pipe: the module slows
    down, the host does not).
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._partial = b""
        self._log = logging.getLogger("stdout")

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.add_reader(self.fd, self._readable)

    def _readable(self) -> None:
        try:
            chunk = os.read(self.fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            asyncio.get_running_loop().remove_reader(self.fd)
            return
        *lines, self._partial = (self._partial + chunk).split(b"\n")
        if len(self._partial) > MAX_LOG_MESSAGE:
            lines.append(self._partial)
            self._partial = b""
        for line in lines:
            if line.strip():
                self._log.info("%s", line[:MAX_LOG_MESSAGE].decode("utf-8", "replace"))
