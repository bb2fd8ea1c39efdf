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
FOLLOW_QUEUE = 1000  # the other workers' lines a follower may lag behind before it loses some


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


def merged(lines_per_worker: list[tuple[str, list[str]]], count: int) -> list[str]:
    """Every worker's lines (``(slot, lines)`` each), tagged, in time order (each worker's own order kept); the last ``count``.

    A list, not a dict by slot: during a rolling restart a slot's old and new process both answer.
    """
    lines = [tagged(line, slot) for slot, lines in lines_per_worker for line in lines]
    lines.sort(key=lambda line: line[:STAMP])  # stable: a worker's lines of one millisecond stay in order
    return lines[-count:] if count else []


Lines = asyncio.Queue[str]


@dataclass(frozen=True)
class OtherWorker:
    slot: str
    address: Address


class WorkerLogs:
    """The other workers' lines of a module, for the control server of the worker answering the shared address.

    The other workers are this bot's own processes, but their answers are still read defensively:
    a worker that answers nonsense, too much or too late is reported, never lets this one fail.
    """

    def __init__(self, own_slot: str, others: Callable[[], Awaitable[list[OtherWorker]]]) -> None:
        self.own_slot = own_slot
        self.others = others

    async def tail(self, module: str, count: int, own: list[str]) -> tuple[list[str], list[str]]:
        """(every worker's last ``count`` lines merged, what could not be asked: ``"slot: why"``)."""
        others, unreachable = await self._others()
        answers = await asyncio.gather(*(self._ask_tail(worker, module, count) for worker in others))
        lines = [(self.own_slot, own)]
        for worker, answer in zip(others, answers, strict=True):
            if isinstance(answer, str):
                unreachable.append(f"{worker.slot}: {answer}")
            else:
                lines.append((worker.slot, answer))
        return merged(lines, count), unreachable

    @asynccontextmanager
    async def follow(self, module: str, count: int, own: list[str]) -> AsyncIterator[tuple[list[str], list[str], Lines]]:
        """(backlog merged, unreachable, a queue of the other workers' new lines, tagged) while inside.

        The caller feeds its own new lines to its client itself; this owns one stream per other worker.
        """
        others, unreachable = await self._others()
        queue: Lines = asyncio.Queue(maxsize=FOLLOW_QUEUE)
        streams: list[asyncio.Task[None]] = []
        backlogs = [(self.own_slot, own)]
        opened = await asyncio.gather(*(self._open_follow(worker, module, count) for worker in others))
        try:
            for worker, result in zip(others, opened, strict=True):
                if isinstance(result, str):
                    unreachable.append(f"{worker.slot}: {result}")
                    continue
                backlog, reader, writer = result
                backlogs.append((worker.slot, backlog))
                streams.append(asyncio.get_running_loop().create_task(_stream(worker.slot, reader, writer, queue)))
            yield merged(backlogs, count), unreachable, queue
        finally:
            for stream in streams:
                stream.cancel()
            await asyncio.gather(*streams, return_exceptions=True)

    async def _others(self) -> tuple[list[OtherWorker], list[str]]:
        """(the other live workers here, and a note when they cannot be listed)."""
        try:
            async with asyncio.timeout(ASK_TIMEOUT):
                return await self.others(), []
        except Exception as exc:  # the database is away: this worker's own lines still help
            return [], [f"the other workers: their list is unavailable ({_why(exc)})"]

    async def _ask_tail(self, worker: OtherWorker, module: str, count: int) -> list[str] | str:
        try:
            async with asyncio.timeout(ASK_TIMEOUT):
                reader, writer = await _connect(worker.address)
                try:
                    return _lines_of(await _request(reader, writer, {"cmd": "logs", "module": module, "lines": count}))
                finally:
                    writer.close()
        except Exception as exc:
            return _why(exc)

    async def _open_follow(
        self, worker: OtherWorker, module: str, count: int
    ) -> tuple[list[str], asyncio.StreamReader, asyncio.StreamWriter] | str:
        """A follow stream open on ``worker`` with its backlog, or why not (nothing left open then)."""
        writer = None
        try:
            async with asyncio.timeout(ASK_TIMEOUT):
                reader, writer = await _connect(worker.address)
                request = {"cmd": "logs", "module": module, "lines": count, "follow": True}
                return _lines_of(await _request(reader, writer, request)), reader, writer
        except BaseException as exc:
            if writer is not None:
                writer.close()
            if not isinstance(exc, Exception):
                raise  # cancelled: the connection is closed all the same
            return _why(exc)


def _lines_of(reply: dict[str, Any]) -> list[str]:
    if reply.get("ok") is not True:
        raise ValueError(str(reply.get("error") or "refused"))
    lines = reply.get("lines")
    if not isinstance(lines, list):
        raise ValueError("answered without a list of lines")
    return [str(line) for line in lines]


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


async def _stream(slot: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, queue: Lines) -> None:
    """One other worker's new lines into ``queue`` (tagged) until it stops or the follower leaves.

    A follower too slow for them loses lines and is told how many; the end of the stream is told too.
    """
    dropped = 0
    ended = "it stopped"
    try:
        while raw := await reader.readline():
            try:
                message = json.loads(raw)
            except ValueError:
                continue
            if not (isinstance(message, dict) and "line" in message):
                continue
            try:
                if dropped:
                    queue.put_nowait(f"[{slot}] … {dropped} line(s) dropped: the reader was too slow")
                    dropped = 0
                queue.put_nowait(tagged(str(message["line"]), slot))
            except asyncio.QueueFull:
                dropped += 1
    except (OSError, ValueError) as exc:  # gone, or a line over MAX_REPLY
        ended = _why(exc)
    finally:
        writer.close()
    with contextlib.suppress(asyncio.QueueFull):
        queue.put_nowait(f"[{slot}] (no more lines from this worker: {ended})")


def _why(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {ASK_TIMEOUT:g} s"
    if isinstance(exc, (FileNotFoundError, ConnectionRefusedError)):
        return "not reachable from this worker (another machine, or stopping)"
    return str(exc) or type(exc).__name__
