"""A module's trouble stays its own share of the host (issue 10, item 11): the scenario of
``tests/test_load_isolation.py`` with its numbers printed and kept.

Run from the project root:  PYTHONPATH=$PWD python benchmarks/bench_load_isolation.py [--rounds N] [--tag NAME]

The bot as ``host.app`` assembles it (core middlewares over the production connection pool, the
modules router, a core screen that reads the database and fires ``profile_menu``), polling the
local Bot API server, with a healthy module and four bad ones: hung blocking its loop, hung while
answering heartbeats, crashing mid-update, returning 2000 invalid button operations per hook call.
Clean and troubled phases alternate (``tests/load_isolation.py``); reported: the median over rounds
of each phase's p99 latency of the healthy module's and the core's updates, their ratio, updates
never answered, the most updates a bad module held at once, ERROR lines outside the modules' own
(``QueuePool`` among them) and the summarised lines the invalid operations cost.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `tests.load_isolation`

from _bridge import embedded_database
from _common import machine_info, print_header, print_table, quiet_runtime_logs, write_results

from tests.load_isolation import BAD_RATES, describe, run_load


async def main(rounds: int, tag: str | None) -> None:
    info = machine_info()
    print_header("Load isolation: healthy traffic beside hung, crashing and garbage-returning modules", info)
    quiet_runtime_logs()
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        async with embedded_database(Path(tmp, "pg")):
            report = await run_load(Path(tmp), rounds=rounds)
    rows = report.rows()
    print_table(
        ["traffic", "p99 clean ms", "p99 troubled ms", "ratio", "updates"],
        [[r["traffic"], r["clean_p99_ms"], r["troubled_p99_ms"], r["ratio"], r["updates"]] for r in rows],
    )
    print(describe(report))
    data = {
        "machine": info,
        "rounds": rounds,
        "bad_rates": BAD_RATES,
        "rows": rows,
        "per_phase_p99_ms": [
            {"troubled": p.troubled, "healthy": p.p99("healthy") * 1e3, "core": p.p99("core") * 1e3} for p in report.phases
        ],
        "max_in_flight": report.max_in_flight,
        "unanswered": report.unanswered,
        "errors": report.errors,
        "garbage_log_lines": len(report.garbage_lines),
        "core_updates": report.core_sent,
    }
    print("results:", write_results("bench_load_isolation", data, tag))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--tag", default=None)
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.tag))
