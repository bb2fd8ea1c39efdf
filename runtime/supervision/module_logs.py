"""Log records from module processes, into the host's log: tagged, validated, rate limited."""

from __future__ import annotations

import logging
import re
import time
from typing import Any

MAX_MESSAGE = 8_000

_LINE_BREAK = re.compile(r"\r\n|[\n\r]")
# C0 controls but tab and line breaks, DEL, C1 controls, and Unicode line/paragraph separators and bidi overrides.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _printable(text: str) -> str:
    """``text`` with every control character (ESC, NUL, …; not tab) as ``\\xNN`` / ``\\uNNNN``."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def tagged_lines(module: str, text: str) -> str:
    """Module text for the host's log: cut, control characters escaped, every line break followed by the tag.

    A line break in module text must not start a line of the host's log that passes for the
    host's own: continuation lines read ``    [module <name>] …`` (tracebacks stay readable).
    """
    return _LINE_BREAK.sub(f"\n    [module {module}] ", _printable(text[:MAX_MESSAGE])[:MAX_MESSAGE])


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
        source = _LINE_BREAK.sub(" ", _printable(source[:100])) if isinstance(source, str) else "?"
        self.logger.log(level, "[module %s] %s: %s", self.module, source, tagged_lines(self.module, message))
