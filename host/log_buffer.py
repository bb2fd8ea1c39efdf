"""The last lines each module logged, for ``solobot modules logs NAME [--follow]``.

Module processes forward their log records to the host, where ``runtime.supervision.module_logs.ModuleLogSink``
re-emits them on the ``solobot.module.<name>`` logger (rate limited per module). The runtime's
own lines about a module (state changes, reload failures with their traceback) are emitted on
``solobot.runtime`` as ``"[modules] %s: ..."`` with the module's name as the first argument.
:class:`ModuleLogHandler` sits on the ``solobot`` logger, recognises both, and keeps one entry
per record in a bounded ring buffer per module::

    2025-11-26 13:28:01.123 INFO [module hello_world] modules.hello_world.router: hello

A multi-line message (a traceback) stays one entry: its continuation lines are indented.
Followers get every new entry through a bounded queue; a follower too slow to keep up loses
lines (and is told how many) rather than making the bot buffer without limit.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

DEFAULT_CAPACITY = 1000  # lines kept per module
FOLLOW_QUEUE = 1000  # lines a follower may lag behind before it loses some
MODULE_LOGGER_PREFIX = "solobot.module."  # ModuleLogSink's loggers
RUNTIME_MODULE_PREFIX = "[modules] %s"  # the runtime's lines about one module: args[0] is its name
RECORD_MODULE_KEY = "solobot_module"  # ``extra={"solobot_module": name}``; "module" is taken by LogRecord itself


def module_of(record: logging.LogRecord) -> str | None:
    """The module a record is about, or ``None`` for the host's own lines."""
    tagged = record.__dict__.get(RECORD_MODULE_KEY)
    if isinstance(tagged, str) and tagged:
        return tagged
    if record.name.startswith(MODULE_LOGGER_PREFIX):
        return record.name[len(MODULE_LOGGER_PREFIX) :] or None
    args = record.args
    if isinstance(record.msg, str) and record.msg.startswith(RUNTIME_MODULE_PREFIX) and isinstance(args, tuple) and args:
        return args[0] if isinstance(args[0], str) else None
    return None


def format_record(record: logging.LogRecord) -> str:
    """``time level message``: the message already carries ``[module name] logger:`` (ModuleLogSink's format)."""
    try:
        message = record.getMessage()
    except Exception:  # a bad format string must not lose the line
        message = f"{record.msg!r} {record.args!r}"
    if record.exc_info and record.exc_info[0] is not None:
        message = f"{message}\n{logging.Formatter().formatException(record.exc_info)}"
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.created))
    header = f"{stamp}.{int(record.msecs):03d} {record.levelname}"
    return f"{header} {message.rstrip()}".replace("\n", "\n    ")


class _Follower:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[str] = asyncio.Queue(FOLLOW_QUEUE)
        self.dropped = 0

    def offer(self, line: str) -> None:  # in the follower's loop
        try:
            if self.dropped:
                self.queue.put_nowait(f"… {self.dropped} line(s) dropped: the reader was too slow")
                self.dropped = 0
            self.queue.put_nowait(line)
        except asyncio.QueueFull:
            self.dropped += 1


class ModuleLogBuffer:
    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._lines: dict[str, deque[str]] = {}
        self._followers: dict[str, set[_Follower]] = {}
        # Records may come from any thread (logging is thread-safe); followers live in the loop.
        self._lock = threading.Lock()

    @property
    def modules(self) -> list[str]:
        with self._lock:
            return sorted(self._lines)

    def append(self, module: str, line: str) -> None:
        with self._lock:
            lines = self._lines.get(module)
            if lines is None:
                lines = self._lines[module] = deque(maxlen=self.capacity)
            lines.append(line)
            followers = list(self._followers.get(module, ()))
        for follower in followers:
            if _in_loop(follower.loop):
                follower.offer(line)
            elif not follower.loop.is_closed():
                follower.loop.call_soon_threadsafe(follower.offer, line)

    def tail(self, module: str, count: int | None = None) -> list[str]:
        """The last ``count`` entries (all kept ones for ``None``), oldest first."""
        with self._lock:
            lines = list(self._lines.get(module, ()))
        return lines if count is None else lines[-count:] if count > 0 else []

    @asynccontextmanager
    async def follow(self, module: str, backlog: int = 0) -> AsyncIterator[tuple[list[str], asyncio.Queue[str]]]:
        """``async with buffer.follow(name, 20) as (last_lines, queue)``: new entries arrive in ``queue``.

        The backlog is taken and the follower registered under one lock, so no line falls in between.
        """
        follower = _Follower(asyncio.get_running_loop())
        with self._lock:
            lines = list(self._lines.get(module, ()))
            self._followers.setdefault(module, set()).add(follower)
        try:
            yield (lines[-backlog:] if backlog > 0 else []), follower.queue
        finally:
            with self._lock:
                followers = self._followers.get(module)
                if followers is not None:
                    followers.discard(follower)
                    if not followers:
                        del self._followers[module]

    @contextmanager
    def attached(self, logger: logging.Logger | None = None, level: int = logging.INFO) -> Iterator[ModuleLogHandler]:
        """Collect module records from ``logger`` (default ``solobot``) while inside.

        Module lines are mostly INFO; when nobody configured logging (tests, embedding) the
        ``solobot`` logger would drop them before any handler sees them, so its level is
        lowered to ``level`` for the duration. Handlers that print to the terminal keep their
        own levels.
        """
        logger = logger or logging.getLogger("solobot")
        handler = ModuleLogHandler(self)
        previous_level = logger.level
        if logger.getEffectiveLevel() > level:
            logger.setLevel(level)
        logger.addHandler(handler)
        try:
            yield handler
        finally:
            logger.removeHandler(handler)
            logger.setLevel(previous_level)


class ModuleLogHandler(logging.Handler):
    """Puts records about a module into a :class:`ModuleLogBuffer`; ignores the host's own lines."""

    def __init__(self, buffer: ModuleLogBuffer) -> None:
        super().__init__(logging.NOTSET)
        self.buffer = buffer

    def emit(self, record: logging.LogRecord) -> None:
        try:
            module = module_of(record)
            if module is not None:
                self.buffer.append(module, format_record(record))
        except Exception:
            self.handleError(record)


def _in_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
