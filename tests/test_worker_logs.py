"""``host.worker_logs``'s merging of several workers' lines (the cluster test runs it end to end: ``test_workers``)."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from host.worker_logs import OtherWorker, WorkerLogs, merged, tagged, worker_address


def test_lines_are_tagged_after_their_level_and_notices_in_front() -> None:
    line = "2026-12-07 05:03:36.984 INFO [module probe] stdout: who\n    a continuation"
    assert tagged(line, "vm-1") == "2026-12-07 05:03:36.984 INFO [vm-1] [module probe] stdout: who\n    a continuation"
    assert tagged("… 3 line(s) dropped: the reader was too slow", "vm-0") == "[vm-0] … 3 line(s) dropped: the reader was too slow"


def test_workers_lines_merge_by_time_keeping_each_workers_order_and_the_last_count() -> None:
    lines = [
        ("vm-0", ["2026-12-07 05:00:00.001 INFO a1", "2026-12-07 05:00:00.003 INFO a2", "2026-12-07 05:00:00.003 INFO a3"]),
        ("vm-1", ["2026-12-07 05:00:00.002 INFO b1", "2026-12-07 05:00:00.004 WARNING b2"]),
        ("vm-1", ["2026-12-07 05:00:00.005 INFO c1"]),  # a rolling restart: the slot's successor answers too
    ]
    assert [line.rsplit(" ", 1)[1] for line in merged(lines, 10)] == ["a1", "b1", "a2", "a3", "b2", "c1"]
    assert [line.rsplit(" ", 1)[1] for line in merged(lines, 2)] == ["b2", "c1"]
    assert merged(lines, 1) == ["2026-12-07 05:00:00.005 INFO [vm-1] c1"]
    assert merged(lines, 0) == []


def test_each_worker_has_its_own_address_beside_the_shared_one() -> None:
    assert worker_address("\0solobot-control-abc", 4242) == "\0solobot-control-abc-4242"
    assert worker_address(Path("/run/solobot/control.sock"), 4242) == Path("/run/solobot/control.sock.4242")


@asynccontextmanager
async def peer(answers: list[bytes]) -> AsyncIterator[str]:
    """A worker's own control address (abstract) that answers any request with ``answers``, then closes."""
    address = f"\0solobot-test-peer-{os.getpid()}-{next(_peers)}"

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        for answer in answers:
            writer.write(answer)
            await writer.drain()
        writer.close()

    server = await asyncio.start_unix_server(serve, address)
    try:
        yield address
    finally:
        server.close()


_peers = itertools.count()
STAMPED = "2026-12-07 05:00:00.00{} INFO [module m] {}"


@pytest.mark.anyio
async def test_other_workers_answers_are_merged_and_the_ones_that_fail_are_named() -> None:
    good = json.dumps({"ok": True, "lines": [STAMPED.format(2, "theirs")]}).encode() + b"\n"
    async with (
        peer([good]) as fine,
        peer([b"not json\n"]) as garbled,
        peer([json.dumps({"ok": True, "lines": 5}).encode() + b"\n"]) as wrong_shape,
    ):
        others = [
            OtherWorker("vm-1", fine),
            OtherWorker("vm-2", garbled),
            OtherWorker("vm-3", wrong_shape),
            OtherWorker("vm-4", "\0solobot-test-peer-nobody-listens"),
        ]

        async def listed() -> list[OtherWorker]:
            return others

        logs = WorkerLogs("vm-0", listed)
        lines, unreachable = await logs.tail("m", 10, [STAMPED.format(1, "ours")])
        assert lines == [
            "2026-12-07 05:00:00.001 INFO [vm-0] [module m] ours",
            "2026-12-07 05:00:00.002 INFO [vm-1] [module m] theirs",
        ]
        assert [entry.split(":")[0] for entry in unreachable] == ["vm-2", "vm-3", "vm-4"], unreachable
        assert "not reachable" in unreachable[2]


@pytest.mark.anyio
async def test_a_followed_worker_that_stops_is_said_so_and_a_broken_list_is_reported() -> None:
    backlog = json.dumps({"ok": True, "lines": [], "follow": True}).encode() + b"\n"
    new_line = json.dumps({"line": STAMPED.format(3, "new")}).encode() + b"\n"
    async with peer([backlog, new_line]) as streaming:

        async def listed() -> list[OtherWorker]:
            return [OtherWorker("vm-1", streaming)]

        async with WorkerLogs("vm-0", listed).follow("m", 10, []) as (_backlog, unreachable, queue):
            assert unreachable == []
            assert await asyncio.wait_for(queue.get(), 5) == "2026-12-07 05:00:00.003 INFO [vm-1] [module m] new"
            assert (await asyncio.wait_for(queue.get(), 5)).startswith("[vm-1] (no more lines from this worker")

    async def database_away() -> list[OtherWorker]:
        raise ConnectionRefusedError("the database is away")

    async with WorkerLogs("vm-0", database_away).follow("m", 10, [STAMPED.format(1, "ours")]) as (lines, unreachable, _queue):
        assert lines == ["2026-12-07 05:00:00.001 INFO [vm-0] [module m] ours"]
        assert unreachable and unreachable[0].startswith("the other workers: their list is unavailable")
