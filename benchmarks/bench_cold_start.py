"""Cold start of the bot: ``solobot run`` until the first update is answered.

Run from the project root (as root, like the sandboxed bot):
    PYTHONPATH=$PWD python benchmarks/bench_cold_start.py [--runs 3] [--modules 10] [--tag NAME]

Each run starts ``python -m cli run`` as its own process with an embedded PostgreSQL (no
``DATABASE_URL``), ``--modules`` trivial modules (``_modules.write_modules``), the sandbox on, and
``TELEGRAM_API_URL`` pointing at a local Bot API server in this process. A user's ``/start`` is
queued before the bot starts; the run ends when the server has recorded the bot's reply. Then the
bot gets SIGTERM and the next start begins. Two kinds of start, alternating:

* ``first start``: a new data folder, so PostgreSQL's ``initdb`` runs (a fresh install);
* ``restart``: the data folder of the previous first start (the usual start of a bot).

The bot's own log gives the phases (seconds after launch): when PostgreSQL was up, when the
zygote was ready (it starts while PostgreSQL starts: the two overlap when the zygote is ready
before, or soon after, the database) and when the runtime reported its modules.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import machine_info, print_header, print_table, summarize, write_results
from _modules import write_modules

from local_bot_api import LocalBotAPI

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ANSWER_TIMEOUT = 180.0
LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


def _seconds(line: str) -> float | None:
    match = LOG_TIME.match(line)
    if not match:
        return None
    stamp = time.strptime(match.group(1)[:19], "%Y-%m-%d %H:%M:%S")
    return time.mktime(stamp) + int(match.group(1)[20:]) / 1000


async def one_start(api: LocalBotAPI, data_dir: Path, modules_dir: Path, user_id: int) -> dict[str, Any]:
    user = api.user(tg_id=user_id, first_name="Bench")
    await user.send("/start")  # waits in the server's queue until the bot polls
    env = {
        **os.environ,
        "BOT_TOKEN": api.token,
        "TELEGRAM_API_URL": api.base_url,
        "DATA_DIR": str(data_dir),
        "MODULES_DIR": str(modules_dir),
        "WEB_PORT": "0",
        "ADMIN_IDS": "1",
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    env.pop("DATABASE_URL", None)
    started_wall = time.time()
    started = time.perf_counter()
    command = [sys.executable, "-m", "cli", "run"]
    pipe, merged = asyncio.subprocess.PIPE, asyncio.subprocess.STDOUT
    bot = await asyncio.create_subprocess_exec(*command, cwd=PROJECT_ROOT, env=env, stdout=pipe, stderr=merged)
    log: list[str] = []

    async def read_log() -> None:
        assert bot.stdout is not None
        while line := await bot.stdout.readline():
            log.append(line.decode(errors="replace").rstrip())

    reader = asyncio.create_task(read_log())
    try:
        await user.wait_for_reply(timeout=ANSWER_TIMEOUT)
        answered = time.perf_counter() - started
    finally:
        if bot.returncode is None:
            bot.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(bot.wait(), 60)
        except TimeoutError:
            bot.kill()
            await bot.wait()
        await reader
    return {"answered_s": answered, **_phases(log, started_wall)}


def _phases(log: list[str], started_wall: float) -> dict[str, Any]:
    """When (s after launch) the zygote was ready and the modules were up, from the bot's log."""
    phases: dict[str, Any] = {}
    for line in log:
        at = _seconds(line)
        if at is None:
            continue
        if "[zygote] ready" in line and "zygote_ready_s" not in phases:
            phases["zygote_ready_s"] = at - started_wall
            took = re.search(r"pid \d+, ([\d.]+) s", line)
            if took:
                phases["zygote_start_s"] = float(took.group(1))
        elif "embedded PostgreSQL (pid" in line and " on " in line and "database_ready_s" not in phases:
            phases["database_ready_s"] = at - started_wall
        elif "[modules] m" in line and ": running" in line:
            phases["modules_up_s"] = at - started_wall
    if "modules_up_s" not in phases:
        phases["log_tail"] = log[-15:]
    return phases


async def main(runs: int, modules: int, tag: str | None) -> None:
    info = machine_info()
    print_header("cold start: solobot run until the first update is answered", info)
    root = Path(tempfile.mkdtemp(prefix="solobot-cold-"))
    root.chmod(0o755)  # module processes run as their own uids
    results: dict[str, list[dict[str, Any]]] = {"first start": [], "restart": []}
    try:
        modules_dir = root / "modules"
        write_modules(modules_dir, modules)
        async with LocalBotAPI(token="123456:COLD") as api:
            user_id = 1000
            for i in range(runs):
                data_dir = root / f"storage{i}"
                for kind in ("first start", "restart"):
                    user_id += 1  # a new user each start: its /start is the first update
                    result = await one_start(api, data_dir, modules_dir, user_id)
                    results[kind].append(result)
                    print(f"   {kind:<12} run {i + 1}: answered after {result['answered_s']:.2f} s  {result}")
                shutil.rmtree(data_dir, ignore_errors=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    rows = []
    summary: dict[str, Any] = {}
    for kind, samples in results.items():
        answered = summarize([r["answered_s"] for r in samples])
        zygote = summarize([r["zygote_ready_s"] for r in samples if "zygote_ready_s" in r])
        database = summarize([r["database_ready_s"] for r in samples if "database_ready_s" in r])
        up = summarize([r["modules_up_s"] for r in samples if "modules_up_s" in r])
        summary[kind] = {"answered_s": answered, "zygote_ready_s": zygote, "database_ready_s": database, "modules_up_s": up}
        phases = [database["p50"], zygote["p50"], up["p50"]]
        rows.append([kind, len(samples), answered["p50"], answered["min"], answered["max"], *phases])
    print_table(["start", "n", "answered p50 s", "min", "max", "PostgreSQL up p50", "zygote ready p50", "modules up p50"], rows)
    write_results("bench_cold_start", {"machine": info, "modules": modules, "runs": results, "summary": summary}, tag)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--modules", type=int, default=10)
    parser.add_argument("--tag")
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.modules, args.tag))
