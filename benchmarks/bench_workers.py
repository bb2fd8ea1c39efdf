"""Several workers (issue 14): updates/s with 1 and 2 workers, and how long the leader duty takes to move.

Run from the project root:  PYTHONPATH=/work/main python benchmarks/bench_workers.py

The bot is what an operator runs — ``solobot run --workers N`` (``tests.worker_cluster``): real
worker processes with their zygotes and sandboxed module processes, one Redis (a private
``redis-server``), one embedded PostgreSQL (a fresh database per start), in webhook mode; the
local Bot API server runs in this process and delivers the updates. ``--workers 1`` is the plain
single-process bot in webhook mode.

* **updates/s**: per round and configuration, on a freshly started bot: 40 users warm it up,
  then ``USERS`` users each send ``/who`` at once (one message each: the shared throttling allows
  one per user per 0.5 s), answered by the ``probe`` module's process; the clock stops at the last
  reply. With 2 workers, also how many of the updates each answered (the reply names its module
  process). Webhook deliveries go up to ``max_connections`` (40) at once; ``probe``'s per-module
  limits are lifted (``bot_api_rate``, ``max_updates_in_flight``: the defaults would be the cap).
  The configurations alternate (the order flips every round), so both see the same machine load.
* **leader failover**: with 2 workers, SIGKILL the worker holding the leader lease, then poll the
  lease (every 20 ms) until the other worker holds it; the arbiter restarts the killed worker and
  the next kill waits for it. Also the clean hand-over: SIGTERM to the leader (it gives the lease
  up on its way out).
The Bot API side shares this process's one event loop and the machine's two cores with the bot:
the numbers compare the configurations, they are not Telegram's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from _common import machine_info, print_header, print_table, summarize, write_results
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from database.embedded import EmbeddedPostgres
from tests.redis_fixtures import RedisServer
from tests.worker_cluster import Cluster, answer, pid_of, poll, running_cluster

ROUNDS, USERS, WARM_USERS = 3, 300, 40
KILLS, STOPS = 5, 3
CONFIGURATIONS = (1, 2)


async def fresh_database(owner_url: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    admin = create_async_engine(owner_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    return make_url(owner_url).set(database=name).render_as_string(hide_password=False)


async def serving(cluster: Cluster, workers: int) -> None:
    """Every worker up: heartbeats (several workers), then an answered /who."""
    if workers > 1:
        await cluster.serving(workers)
    await answer(cluster.user(), "/who", "who", timeout=120)


async def throughput(cluster: Cluster) -> tuple[float, list[int]]:
    """(updates/s, how many of them each worker answered, largest first)."""
    await asyncio.gather(*(answer(cluster.user(), "/who", "who", timeout=60) for _ in range(WARM_USERS)))
    users = [cluster.user() for _ in range(USERS)]
    started = time.perf_counter()
    replies = await asyncio.gather(*(answer(user, "/who", "who", timeout=120) for user in users))
    rate = USERS / (time.perf_counter() - started)
    module_pids = Counter(int(words[1]) for words in replies)  # the answering probe process: one per worker
    return rate, sorted(module_pids.values(), reverse=True)


async def handover(cluster: Cluster, sig: signal.Signals) -> float:
    """Seconds from ``sig`` to the leader to the other worker holding the lease."""
    await cluster.serving(2)
    leader = await cluster.leader()
    started = time.perf_counter()
    os.kill(pid_of(leader), sig)

    async def moved() -> bool:
        holder = await cluster.leader()
        return holder is not None and holder != leader

    await poll(moved, timeout=60, interval=0.02)
    return time.perf_counter() - started


async def main(only: str | None) -> None:
    info = machine_info()
    print_header("bench_workers", info)
    rates: dict[int, list[float]] = {n: [] for n in CONFIGURATIONS}
    splits: list[list[int]] = []  # 2 workers: updates answered per worker, per round
    kills: list[float] = []
    stops: list[float] = []
    plan = [(r, n) for r in range(ROUNDS) for n in (CONFIGURATIONS if r % 2 == 0 else CONFIGURATIONS[::-1])]
    if only == "failover":
        plan = [(ROUNDS - 1, 2)]
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as folder:
        with EmbeddedPostgres(Path(folder) / "pg") as pg, RedisServer(Path(folder) / "redis") as redis:
            for start, (round_no, workers) in enumerate(plan, start=1):
                database = await fresh_database(pg.url, f"bench_{start}")
                async with running_cluster(database, redis.url(start), workers, notification_time=3600, load=True) as cluster:
                    await serving(cluster, workers)
                    if only != "failover":
                        rate, split = await throughput(cluster)
                        rates[workers].append(rate)
                        if workers == 2:
                            splits.append(split)
                        print(f"   round {round_no + 1}: {workers} worker(s): {rate:.1f} updates/s, per worker {split}")
                    if workers == 2 and round_no == ROUNDS - 1 and only != "throughput":
                        kills += [await handover(cluster, signal.SIGKILL) for _ in range(KILLS)]
                        stops += [await handover(cluster, signal.SIGTERM) for _ in range(STOPS)]
                    cluster.arbiter.send_signal(signal.SIGTERM)
    results: dict[str, Any] = {}
    if only != "failover":
        results["updates_per_s"] = {str(n): {"per_round": xs, "median": statistics.median(xs)} for n, xs in rates.items()}
        pairs = zip(rates[1], rates[2], strict=True)
        results["ratio_2_vs_1_median_of_rounds"] = statistics.median(two / one for one, two in pairs)
        results["two_workers_updates_per_worker"] = splits
        print_table(
            ["workers", "rounds", "updates/s (median)", "min", "max"],
            [[n, len(rates[n]), statistics.median(rates[n]), min(rates[n]), max(rates[n])] for n in CONFIGURATIONS],
        )
        print_table(["ratio", "2 workers / 1"], [["updates/s (median of pairs)", results["ratio_2_vs_1_median_of_rounds"]]])
    if only != "throughput":
        results["failover_after_sigkill_s"] = {"samples": kills, **summarize(kills)}
        results["handover_after_sigterm_s"] = {"samples": stops, **summarize(stops)}
        print_table(
            ["leader moves after", "n", "p50 s", "min", "max"],
            [[what, len(xs), statistics.median(xs), min(xs), max(xs)] for what, xs in (("SIGKILL", kills), ("SIGTERM", stops))],
        )
    write_results("bench_workers", {"machine": info, "only": only, "results": results}, tag=only)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("throughput", "failover"), help="measure one of the two")
    asyncio.run(main(parser.parse_args().only))
