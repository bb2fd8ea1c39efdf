"""Send this process's log records to the host, which tags them with the module's name."""

from __future__ import annotations

import logging

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
