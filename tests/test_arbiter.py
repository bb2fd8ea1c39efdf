"""The arbiter (``workers.arbiter``) as a real process over real worker processes sharing one port.

The workers are small stand-ins keeping the worker contract (``tests.arbiter_programs``): this
is about the arbiter — dealing connections evenly, restarting a dead worker, SIGHUP's rolling restart
losing no request, SIGTERM stopping everyone. ``test_workers`` runs it over whole bots.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import process_alive, wait_until

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class RunningArbiter:
    process: subprocess.Popen[str]
    url: str

    async def ask(self, session: aiohttp.ClientSession, delay: float = 0.0) -> tuple[int, int]:
        """(pid, worker index) of the worker that answered."""
        async with session.get(self.url, params={"delay": str(delay)}) as response:
            response.raise_for_status()
            pid, index = (await response.text()).split()
            return int(pid), int(index)


@pytest.fixture
def arbiter() -> Iterator[RunningArbiter]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.arbiter_programs", "arbiter", "2"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline().split()[1])
        yield RunningArbiter(process, f"http://127.0.0.1:{port}/")
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    # A new connection per request, as many webhook senders open: the kernel gives each to one worker.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as client:
        yield client


async def serving(arbiter: RunningArbiter, session: aiohttp.ClientSession) -> dict[int, int]:
    """Ask until both workers have answered; {index: pid}."""
    seen: dict[int, int] = {}

    async def both() -> bool:
        for pid, index in await asyncio.gather(*(arbiter.ask(session, 0.05) for _ in range(8)), return_exceptions=False):
            seen[index] = pid
        return len(seen) == 2

    for _ in range(200):
        try:
            if await both():
                return seen
        except aiohttp.ClientConnectionError:
            await asyncio.sleep(0.1)  # still starting
    raise AssertionError(f"not both workers answered: {seen}")


async def test_connections_spread_and_a_killed_worker_is_replaced(
    arbiter: RunningArbiter, session: aiohttp.ClientSession
) -> None:
    first = await serving(arbiter, session)
    os.kill(first[0], signal.SIGKILL)
    # The other worker keeps answering meanwhile; the arbiter starts a new worker 0.
    answers = await asyncio.gather(*(arbiter.ask(session) for _ in range(10)))
    assert all(pid != first[0] for pid, _ in answers)
    await wait_until(lambda: not process_alive(first[0]))
    replaced = await serving(arbiter, session)
    assert replaced[0] != first[0] and replaced[1] == first[1]


async def test_kept_alive_connections_are_split_evenly(arbiter: RunningArbiter, session: aiohttp.ClientSession) -> None:
    # A webhook sender keeps its connections open and reuses them: how the first burst of them is
    # split decides the split of every later request. The arbiter deals each to the worker with
    # the fewest open, so eight opened at once go four and four, and stay there.
    await serving(arbiter, session)
    await asyncio.sleep(1.5)  # the warm-up's closed connections reported (each worker reports within 0.1 s)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=8)) as kept:
        for _ in range(3):
            answers = await asyncio.gather(*(arbiter.ask(kept, delay=0.3) for _ in range(8)))
            per_worker = Counter(index for _, index in answers)
            assert sorted(per_worker.values()) == [4, 4], per_worker


async def test_a_rolling_restart_loses_no_request_and_sigterm_stops_everyone(
    arbiter: RunningArbiter, session: aiohttp.ClientSession
) -> None:
    before = await serving(arbiter, session)
    failures: list[BaseException] = []
    answered: list[int] = []
    rolling = True

    async def stream() -> None:
        while rolling:
            try:
                pid, _ = await arbiter.ask(session, delay=0.2)  # in flight while its worker is told to stop
                answered.append(pid)
            except aiohttp.ClientError as exc:
                failures.append(exc)

    async with asyncio.TaskGroup() as group:
        for _ in range(4):
            group.create_task(stream())
        await asyncio.sleep(0.5)
        arbiter.process.send_signal(signal.SIGHUP)
        await wait_until(lambda: not any(process_alive(pid) for pid in before.values()), timeout=60)
        after = await serving(arbiter, session)
        rolling = False
    assert failures == []
    assert set(after.values()).isdisjoint(before.values())
    assert set(answered) & set(before.values()) and set(answered) & set(after.values())

    arbiter.process.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(arbiter.process.wait, 60) == 0
    assert not any(process_alive(pid) for pid in after.values())
