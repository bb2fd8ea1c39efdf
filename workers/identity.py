"""Which worker this process is: ``<hostname>-<index>`` for the slot, plus the pid for this incarnation.

The slot id is stable across restarts of a worker (the arbiter gives the new process the same
index), so logs and ``solobot modules status`` name the same worker over time; the instance id
(slot id + pid) is unique even while a rolling restart runs the old and the new process of one
slot side by side — leadership and heartbeats are keyed by it.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass, field

INDEX_ENV = "SOLOBOT_WORKER_INDEX"


@dataclass(frozen=True)
class WorkerIdentity:
    index: int
    hostname: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)

    @property
    def slot(self) -> str:
        """``host-1``: the same for every incarnation of this worker."""
        return f"{self.hostname}-{self.index}"

    @property
    def instance(self) -> str:
        """``host-1/4242``: this very process."""
        return f"{self.slot}/{self.pid}"

    @classmethod
    def from_environment(cls) -> WorkerIdentity | None:
        """The identity the arbiter gave this process (``SOLOBOT_WORKER_INDEX``), or None outside worker mode."""
        raw = os.environ.get(INDEX_ENV, "").strip()
        if not raw:
            return None
        if not raw.isdigit():
            raise ValueError(f"{INDEX_ENV} must be a worker index (0, 1, ...), got {raw!r}")
        return cls(int(raw))


class WorkerLogFilter(logging.Filter):
    """Adds ``record.worker`` (a worker's slot id, or ``arbiter``) so every log line says who wrote it."""

    def __init__(self, label: str) -> None:
        super().__init__()
        self.worker = label

    def filter(self, record: logging.LogRecord) -> bool:
        record.worker = self.worker
        return True
