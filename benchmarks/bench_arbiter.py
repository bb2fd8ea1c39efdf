"""The arbiter dealing connections to 2 workers, against every worker accepting on the shared socket.

Run from the project root:  PYTHONPATH=/work/main python benchmarks/bench_arbiter.py

Both sides run the stand-in worker of ``tests/arbiter_programs.py`` (an aiohttp server answering
every request with its pid: no bot, so what is measured is the way connections reach workers):

* dealt   ``Arbiter`` accepts and hands each connection to the worker with the fewest open ones
          (``workers/connection_handoff.py``), as ``solobot run --workers 2`` does now;
* shared  the two workers accept on one inherited listening socket themselves, as the first
          version of the arbiter had them do (``SOLOBOT_LISTEN_FD``; started here, no arbiter).

Per round and side, ``REQUESTS`` requests each way:

* **new connection per request** (16 at once, ``force_close``): requests/s, latency p50, and the
  busiest worker's share — what dealing costs, since every request is a new connection;
* **kept alive** (8 connections opened at once, as a webhook sender's burst opens them, then
  reused by 8 requests at a time): requests/s and the busiest worker's share.

The sides alternate, the order flipping every round. The client shares the two cores with the
workers and the arbiter: the numbers compare the two sides, not a production load.
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
from _common import machine_info, print_header, print_table, summarize, write_results

from workers.arbiter import open_listener

ROOT = Path(__file__).resolve().parent.parent
ROUNDS, REQUESTS, AT_ONCE, KEPT = 5, 2000, 16, 8
SIDES = ("dealt", "shared")
PROGRAM = (sys.executable, "-m", "tests.arbiter_programs")


@asynccontextmanager
async def dealt() -> AsyncIterator[str]:
    process = subprocess.Popen([*PROGRAM, "arbiter", "2"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        port = int((await asyncio.to_thread(process.stdout.readline)).split()[1])
        yield f"http://127.0.0.1:{port}/"
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(process.wait, 60)


@asynccontextmanager
async def shared() -> AsyncIterator[str]:
    listener = open_listener("127.0.0.1", 0)
    listener.set_inheritable(True)
    workers: list[subprocess.Popen[bytes]] = []
    try:
        for index in range(2):
            read_end, write_end = os.pipe()
            env = {
                **os.environ,
                "SOLOBOT_WORKER_INDEX": str(index),
                "SOLOBOT_LISTEN_FD": str(listener.fileno()),
                "SOLOBOT_READY_FD": str(write_end),
            }
            workers.append(subprocess.Popen([*PROGRAM, "worker"], cwd=ROOT, env=env, pass_fds=(listener.fileno(), write_end)))
            os.close(write_end)
            with os.fdopen(read_end, "rb", 0) as ready:
                assert await asyncio.to_thread(ready.read, 1) == b"1", "a stand-in worker did not start"
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/"
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            await asyncio.to_thread(worker.wait, 60)
        listener.close()


async def ask(session: aiohttp.ClientSession, url: str, delay: float = 0.0) -> tuple[int, float]:
    """(index of the worker that answered, seconds)."""
    started = time.perf_counter()
    async with session.get(url, params={"delay": str(delay)}) as response:
        response.raise_for_status()
        index = int((await response.text()).split()[1])
    return index, time.perf_counter() - started


async def both_serving(url: str) -> None:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
        for _ in range(300):
            try:
                answers = await asyncio.gather(*(ask(session, url, 0.02) for _ in range(8)))
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.1)
                continue
            if len({index for index, _ in answers}) == 2:
                return
    raise AssertionError("not both workers answered")


async def stream(session: aiohttp.ClientSession, url: str, at_once: int) -> tuple[float, list[float], Counter[int]]:
    """``REQUESTS`` requests, ``at_once`` at a time: (requests/s, latencies, answers per worker)."""
    latencies: list[float] = []
    served: Counter[int] = Counter()
    left = REQUESTS

    async def client() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            index, seconds = await ask(session, url)
            latencies.append(seconds)
            served[index] += 1

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(at_once)))
    return REQUESTS / (time.perf_counter() - started), latencies, served


def busiest_share(served: Counter[int]) -> float:
    return max(served.values()) / sum(served.values())


async def measure(url: str) -> dict[str, Any]:
    await both_serving(url)
    await asyncio.sleep(1.5)  # the warm-up's closed connections are reported (dealt side)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as fresh:
        new_rate, new_latencies, new_served = await stream(fresh, url, AT_ONCE)
    # The dealt side knows each worker's open connections as of its last report (≤ 0.1 s old): right
    # after the 2000 closed, the burst would be dealt by stale counts. A webhook sender's burst does
    # not follow a churn of thousands of connections within milliseconds.
    await asyncio.sleep(0.3)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=KEPT)) as kept:
        await asyncio.gather(*(ask(kept, url, 0.05) for _ in range(KEPT)))  # the burst that opens the connections
        kept_rate, _, kept_served = await stream(kept, url, KEPT)
    return {
        "new_connection_rps": new_rate,
        "new_connection_latency_ms": summarize(new_latencies, 1000.0),
        "new_connection_busiest_share": busiest_share(new_served),
        "kept_alive_rps": kept_rate,
        "kept_alive_busiest_share": busiest_share(kept_served),
    }


async def main() -> None:
    info = machine_info()
    print_header("bench_arbiter", info)
    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in SIDES}
    for round_no in range(ROUNDS):
        for side in SIDES if round_no % 2 == 0 else SIDES[::-1]:
            async with dealt() if side == "dealt" else shared() as url:
                runs[side].append(result := await measure(url))
            print(
                f"   round {round_no + 1} {side}: new connections {result['new_connection_rps']:.0f} req/s "
                f"(busiest worker {result['new_connection_busiest_share']:.0%}), kept alive "
                f"{result['kept_alive_rps']:.0f} req/s (busiest worker {result['kept_alive_busiest_share']:.0%})",
                flush=True,
            )

    def median(side: str, key: str) -> float:
        return statistics.median(run[key] for run in runs[side])

    def median_p50(side: str) -> float:
        return statistics.median(run["new_connection_latency_ms"]["p50"] for run in runs[side])

    rows = [
        [side, median(side, "new_connection_rps"), median_p50(side), median(side, "new_connection_busiest_share"),
         median(side, "kept_alive_rps"), median(side, "kept_alive_busiest_share"),
         max(run["kept_alive_busiest_share"] for run in runs[side])]
        for side in SIDES
    ]  # fmt: skip
    print_table(
        ["side", "new conn req/s", "p50 ms", "busiest share", "kept-alive req/s", "busiest share", "worst round"],
        rows,
    )
    ratios = {
        "new_connection_rps_dealt_vs_shared": median("dealt", "new_connection_rps") / median("shared", "new_connection_rps"),
        "kept_alive_rps_dealt_vs_shared": median("dealt", "kept_alive_rps") / median("shared", "kept_alive_rps"),
    }
    print_table(["ratio dealt / shared", ""], [[key, value] for key, value in ratios.items()])
    write_results("bench_arbiter", {"machine": info, "runs": runs, "ratios": ratios})


if __name__ == "__main__":
    asyncio.run(main())
