"""Log records from module processes, into the host's log: tagged, validated, rate limited."""

from __future__ import annotations

import logging
import time
from typing import Any

MAX_MESSAGE = 8_000


class ModuleLogSink:
    """Per-module token bucket: a flooding module loses its own lines, never the host's log."""

    def __init__(self, module: str, lines_per_second: float) -> None:
        self.module = module
        self.logger = logging.getLogger(f"solobot.module.{module}")
        self.rate = lines_per_second
        self.capacity = lines_per_second * 4
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self.dropped = 0

    def emit(self, params: Any) -> None:
        if not isinstance(params, dict):
            return
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1:
            self.dropped += 1
            return
        self.tokens -= 1
        if self.dropped:
            self.logger.warning("[module %s] %d log lines dropped (rate limit)", self.module, self.dropped)
            self.dropped = 0
        level = params.get("level")
        level = level if type(level) is int and 0 <= level <= 50 else logging.INFO
        message = params.get("message")
        message = message if isinstance(message, str) else repr(message)
        source = params.get("logger")
        source = source[:100] if isinstance(source, str) else "?"
        self.logger.log(level, "[module %s] %s: %s", self.module, source, message[:MAX_MESSAGE])
