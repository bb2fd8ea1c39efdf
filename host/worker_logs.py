"""``solobot modules logs NAME`` on a bot of several workers: every worker's lines, not only one's.

A module runs in every worker, and each worker keeps its own module's lines (``log_buffer``). The
arbiter's workers share ``DATA_DIR`` and so the control address, which one of them serves at a time
(``operator_tools``). So each worker also serves its *own* address — the shared one plus ``-<pid>``
(abstract) or ``.<pid>`` (a ``SOLOBOT_CONTROL_SOCKET`` path) — and the worker answering the shared
address asks every other live worker of this machine (the heartbeats say which) for its lines
there, tags each line with the worker's slot (``… INFO [vm-1] [module x] …``) and merges them by
time. ``--follow`` streams every worker's new lines the same way. A worker that does not answer
(it is stopping, or on another machine: abstract names are per network namespace) is named in
the reply's ``unreachable``: the lines shown are then not all there are.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cli.control_address import Address, is_abstract

ASK_TIMEOUT = 3.0  # seconds a worker has to answer with its lines
STAMP = len("2026-01-01 00:00:00.000")  # lines start with their time (log_buffer.format_record)
STAMPED = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}")
MAX_REPLY = 16 * 1024 * 1024  # a worker's reply: up to its whole buffer of lines


def worker_address(shared: Address, pid: int) -> Address:
    """The address worker ``pid`` serves on its own, next to the shared one."""
    if is_abstract(shared):
        return f"{shared}-{pid}"
    path = Path(shared)
    return path.with_name(f"{path.name}.{pid}")


def tagged(line: str, slot: str) -> str:
    """``stamp LEVEL rest`` → ``stamp LEVEL [slot] rest``; a line without a stamp (a follower's notice) → ``[slot] line``.

    An entry's continuation lines (a traceback's, indented) follow unchanged.
    """
    parts = line.split(" ", 3)
    if len(parts) < 4 or not STAMPED.fullmatch(line[:STAMP]):
        return f"[{slot}] {line}"
    date, time, level, rest = parts
    return f"{date} {time} {level} [{slot}] {rest}"


def merged(lines_per_worker: dict[str, list[str]], count: int) -> list[str]:
    """Every worker's lines, tagged, in time order (each worker's own order kept); the last ``count``."""
    lines = [tagged(line, slot) for slot, lines in lines_per_worker.items() for line in lines]
    lines.sort(key=lambda line: line[:STAMP])  # stable: a worker's lines of one millisecond stay in order
    return lines[-count:] if count else []


Lines = asyncio.Queue[str]


@dataclass(frozen=True)
class OtherWorker:
    slot: str
    address: Address


class WorkerLogs:
    """The other workers' lines of a module, for the control server of the worker answering the shared address."""

    def __init__(self, own_slot: str, others: Callable[[], Awaitable[list[OtherWorker]]]) -> None:
        self.own_slot = own_slot
        self.others = others

    async def tail(self, module: str, count: int, own: list[str]) -> tuple[list[str], list[str]]:
        """(every worker's last ``count`` lines merged, what could not be asked: ``"slot: why"``)."""
        others = await self._others_or_none()
        if others is None:
            return merged({self.own_slot: own}, count), ["the other workers: their list is unavailable (database)"]
        answers = await asyncio.gather(*(self._ask_tail(worker, module, count) for worker in others))
        lines = {self.own_slot: own}
        unreachable = []
        for worker, answer in zip(others, answers, strict=True):
            if isinstance(answer, str):
                unreachable.append(f"{worker.slot}: {answer}")
            else:
                lines[worker.slot] = answer
        return merged(lines, count), unreachable

    @asynccontextmanager
    async def follow(self, module: str, count: int, own: list[str]) -> AsyncIterator[tuple[list[str], list[str], Lines]]:
        """(backlog merged, unreachable, a queue of the other workers' new lines, tagged) while inside.

        The caller feeds its own new lines to its client itself; this owns one stream per other worker.
        """
        others = await self._others_or_none() or []
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=1000)
        streams: list[asyncio.Task[None]] = []
        backlogs: dict[str, list[str]] = {self.own_slot: own}
        unreachable: list[str] = []
        try:
            opened = await asyncio.gather(*(self._open_follow(worker, module, count) for worker in others))
            for worker, result in zip(others, opened, strict=True):
                if isinstance(result, str):
                    unreachable.append(f"{worker.slot}: {result}")
                    continue
                backlog, reader, writer = result
                backlogs[worker.slot] = backlog
                streams.append(asyncio.get_running_loop().create_task(_stream(worker.slot, reader, writer, queue)))
            yield merged(backlogs, count), unreachable, queue
        finally:
            for stream in streams:
                stream.cancel()
            await asyncio.gather(*streams, return_exceptions=True)

    async def _others_or_none(self) -> list[OtherWorker] | None:
        try:
            return await self.others()
        except Exception:  # the database is away: this worker's own lines still help
            return None

    async def _ask_tail(self, worker: OtherWorker, module: str, count: int) -> list[str] | str:
        try:
            async with asyncio.timeout(ASK_TIMEOUT):
                reader, writer = await _connect(worker.address)
                try:
                    reply = await _request(reader, writer, {"cmd": "logs", "module": module, "lines": count})
                finally:
                    writer.close()
        except (OSError, TimeoutError, ValueError) as exc:
            return _why(exc)
        if reply.get("ok") is not True:
            return str(reply.get("error") or "refused")
        return [str(line) for line in reply.get("lines") or []]

    async def _open_follow(
        self, worker: OtherWorker, module: str, count: int
    ) -> tuple[list[str], asyncio.StreamReader, asyncio.StreamWriter] | str:
        try:
            async with asyncio.timeout(ASK_TIMEOUT):
                reader, writer = await _connect(worker.address)
                try:
                    reply = await _request(reader, writer, {"cmd": "logs", "module": module, "lines": count, "follow": True})
                except BaseException:
                    writer.close()
                    raise
        except (OSError, TimeoutError, ValueError) as exc:
            return _why(exc)
        if reply.get("ok") is not True:
            writer.close()
            return str(reply.get("error") or "refused")
        return [str(line) for line in reply.get("lines") or []], reader, writer


async def _connect(address: Address) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_unix_connection(str(address), limit=MAX_REPLY)


async def _request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: dict[str, Any]) -> dict[str, Any]:
    writer.write(json.dumps(request).encode() + b"\n")
    await writer.drain()
    raw = await reader.readline()
    if not raw:
        raise ConnectionResetError("closed without an answer")
    reply = json.loads(raw)
    if not isinstance(reply, dict):
        raise ValueError("not a JSON object")
    return reply


async def _stream(slot: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, queue: asyncio.Queue[str]) -> None:
    """One other worker's new lines into ``queue`` (tagged) until it stops or the follower leaves."""
    try:
        while raw := await reader.readline():
            with contextlib.suppress(ValueError):
                message = json.loads(raw)
                if isinstance(message, dict) and "line" in message:
                    with contextlib.suppress(asyncio.QueueFull):  # a slow follower loses lines, not the bot's memory
                        queue.put_nowait(tagged(str(message["line"]), slot))
    except (OSError, ValueError):
        pass  # that worker went away: the others' lines keep coming
    finally:
        writer.close()


def _why(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {ASK_TIMEOUT:g} s"
    if isinstance(exc, (FileNotFoundError, ConnectionRefusedError)):
        return "not reachable from this worker (another machine, or stopping)"
    return str(exc) or type(exc).__name__
