"""Notifications at scale: a ``periodic_notifications`` cycle with 100 000 keys and 5 modules.

Run from the project root:  PYTHONPATH=/work/main python benchmarks/bench_notifications.py
(``--keys N`` and ``--modules N`` change the scale; ``--tag NAME`` writes results/bench_notifications.NAME.json.)

Setup: an embedded PostgreSQL with the core tables; KEYS non-frozen keys (plus FROZEN frozen
ones, which the cycle's query skips) of USERS users, written with COPY. Five modules ``n000`` …
``n004`` each subscribe ``periodic_notifications`` with a hook that counts the keys and the keys
expiring within 24 h; ``n000`` also sends one message through the bot (to the local Bot API
server). The runtime runs with ``RuntimeConfig(hook_timeouts={"periodic_notifications": 120})``.

A cycle is what the notification loop does, with the key list the runtime can pass as a query:

    async with async_session_maker() as session:
        await rt.run_hooks("periodic_notifications", bot=bot, session=session, keys=NonFrozenKeys())

``NonFrozenKeys`` crosses to each module process as ``Ref("keys", "non_frozen")``; the module
process loads the keys itself (``database.get_non_frozen_keys``: 100 000 ORM ``Key`` objects) on
its own connection. Measured per cycle: wall time; per module the time until its hook started
(= request delivered + session opened + keys loaded), the hook's own time, and the time until its
reply reached the host; IPC messages and bytes (``_bridge.IpcMeter``); peak RSS of each module
process (``psutil``, sampled every 10 ms from a thread); CPU time of the host's event-loop thread,
of the module processes and of PostgreSQL's backends. CYCLES cycles with 5 modules, then
CYCLES_ONE with only ``n000`` running (the others stopped), the per-module cost without
contention for the 2 cores.

Then, in the host and for comparison, the parts of the work, interleaved, REPEATS times each:
the ORM load, the same query as plain dicts (``get_non_frozen_key_rows``), the bare asyncpg
fetch, and what shipping the keys instead would cost: ``[k.to_dict() for k in keys]``,
``ipc.encode`` of that list (its size is the bytes per module per cycle) and ``ipc.decode``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import random
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
from _bridge import IpcMeter, embedded_database, open_stack, write_module
from _common import machine_info, print_header, print_table, quiet_runtime_logs, summarize, write_results

import ipc
from runtime import RuntimeConfig
from runtime.calls.hook_arguments import NonFrozenKeys

KEYS = 100_000
FROZEN = 5_000
USERS = 80_000
MODULES = 5
CYCLES = 5
CYCLES_ONE = 3
REPEATS = 3
HOOK_TIMEOUT = 120.0
ADMIN_CHAT = 1
MB = 1024 * 1024
HOOK = "periodic_notifications"
BREAKDOWN_HOOK = "notifications_breakdown"
RESET_HOOK = "notifications_reset"

HOOK_ROUTER = """\
import asyncio
import resource
import time

from aiogram import Router

from hooks.hooks import register_hook

router = Router()
SENDS_A_MESSAGE = "NAME" == "n000"
_stall = {"max": 0.0, "tick": time.perf_counter()}


async def _watch_loop():
    # The longest time this process's event loop could not run anything (a heartbeat included).
    clock = time.perf_counter
    while True:
        t0 = clock()
        await asyncio.sleep(0.01)
        _stall["tick"] = now = clock()
        _stall["max"] = max(_stall["max"], now - t0 - 0.01)


def _longest_stall():
    # The loading of the keys ends and the hook starts without the loop turning in between, so the
    # stall still going on (since the watcher's last tick) counts too.
    return max(_stall["max"], time.perf_counter() - _stall["tick"] - 0.01)


_watcher = asyncio.get_running_loop().create_task(_watch_loop())  # the module is imported inside the loop


async def periodic_notifications(bot, session, keys, **kwargs):
    started = time.time()
    stall = _longest_stall()
    n = len(keys)
    horizon = int(started * 1000) + 24 * 3600 * 1000
    due = sum(1 for k in keys if k.expiry_time is not None and k.expiry_time <= horizon)
    sent = 0
    if SENDS_A_MESSAGE:
        await bot.send_message(ADMIN_CHAT, f"NAME: {n} keys, {due} expiring within 24 h")
        sent = 1
    reply = {
        "module": "NAME",
        "keys": n,
        "due": due,
        "key_type": type(keys[0]).__name__ if n else None,
        "sent": sent,
        "hook_started": started,
        "hook_finished": time.time(),
        "ru_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "longest_loop_stall": stall,
    }
    return reply


async def reset_stall(**kwargs):
    _stall["max"] = 0.0
    _stall["tick"] = time.perf_counter()


register_hook("periodic_notifications", periodic_notifications)
register_hook("notifications_reset", reset_stall)
if SENDS_A_MESSAGE:
    from .breakdown import notifications_breakdown

    register_hook("notifications_breakdown", notifications_breakdown)
""".replace("ADMIN_CHAT", str(ADMIN_CHAT))

# The cycle's parts, timed inside a module process (n000), where the cycle really runs: the
# zygote froze the GC before forking, so these differ from the same steps in the host.
BREAKDOWN_PY = """\
import gc
import time

import ipc
from database import async_session_maker, get_non_frozen_key_rows, get_non_frozen_keys

QUERY = "SELECT * FROM keys WHERE is_frozen IS NOT TRUE ORDER BY tg_id"
PARTS = (
    "asyncpg fetch (records)",
    "ORM load: get_non_frozen_keys (Key objects)",
    "plain rows: get_non_frozen_key_rows (dicts)",
    "k.to_dict() for every Key object",
    "ipc.encode(list of dicts)",
    "ipc.decode(those bytes)",
)


def _rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


async def notifications_breakdown(repeats=3, **kwargs):
    seconds = {part: [] for part in PARTS}
    rss_growth_orm, sizes = [], []
    clock = time.perf_counter
    for _ in range(repeats):
        gc.collect()
        async with async_session_maker() as session:
            connection = await (await session.connection()).get_raw_connection()
            t0 = clock()
            records = await connection.driver_connection.fetch(QUERY)
            seconds[PARTS[0]].append(clock() - t0)
            n = len(records)
            del records
        gc.collect()
        rss0 = _rss()
        async with async_session_maker() as session:
            t0 = clock()
            keys = await get_non_frozen_keys(session)
            seconds[PARTS[1]].append(clock() - t0)
            rss_growth_orm.append(_rss() - rss0)
            t0 = clock()
            dicts = [k.to_dict() for k in keys]
            seconds[PARTS[3]].append(clock() - t0)
        del keys
        gc.collect()
        t0 = clock()
        payload = ipc.encode(dicts)
        seconds[PARTS[4]].append(clock() - t0)
        sizes.append(len(payload))
        del dicts
        t0 = clock()
        decoded = ipc.decode(payload)
        seconds[PARTS[5]].append(clock() - t0)
        del decoded, payload
        gc.collect()
        async with async_session_maker() as session:
            t0 = clock()
            rows = await get_non_frozen_key_rows(session)
            seconds[PARTS[2]].append(clock() - t0)
        del rows
    return {"keys": n, "seconds": seconds, "rss_growth_bytes_orm": rss_growth_orm, "encoded_bytes": sizes}
"""


# ------------------------------------------------------------------------------ populate


async def populate(keys: int, frozen: int, users: int) -> dict[str, Any]:
    """Users and keys with COPY (asyncpg ``copy_records_to_table``); returns counts and seconds."""
    from database import db

    rng = random.Random(20261126)
    now = dt.datetime(2026, 11, 26, 12, 0, 0)
    now_ms = int(time.time() * 1000)
    day_ms = 24 * 3600 * 1000
    user_rows = [(1_000_000 + i, f"user{i}", f"User {i}", None, "ru", False, 0.0, 1, "RUB", None, now, now) for i in range(users)]
    key_rows = []
    for i in range(keys + frozen):
        client_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        expiry = now_ms + rng.randint(-10 * day_ms, 60 * day_ms)
        key_rows.append(
            (
                client_id,
                1_000_000 + i % users,
                f"key{i}@bench.local",
                now_ms - rng.randint(0, 300 * day_ms),
                expiry,
                f"vless://{client_id}@203.0.113.{i % 250}:443?type=tcp&security=reality&pbk=abcdef&fp=chrome#key{i}",
                "local-1",
                None,
                1,
                i >= keys,  # the last ``frozen`` keys are frozen
                None if i % 3 else f"phone {i}",
                False,
                False,
                3,
                100,
                150,
                3,
                100,
            )
        )
    columns_users = [
        "tg_id",
        "username",
        "first_name",
        "last_name",
        "language_code",
        "is_bot",
        "balance",
        "trial",
        "preferred_currency",
        "source_code",
        "created_at",
        "updated_at",
    ]
    columns_keys = [
        "client_id",
        "tg_id",
        "email",
        "created_at",
        "expiry_time",
        "key",
        "server_id",
        "remnawave_link",
        "tariff_id",
        "is_frozen",
        "alias",
        "notified",
        "notified_24h",
        "selected_device_limit",
        "selected_traffic_limit",
        "selected_price_rub",
        "current_device_limit",
        "current_traffic_limit",
    ]
    engine = db.get_engine()
    t0 = time.perf_counter()
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        apg = raw.driver_connection
        assert apg is not None
        await apg.copy_records_to_table("users", records=user_rows, columns=columns_users)
        await apg.copy_records_to_table("keys", records=key_rows, columns=columns_keys)
        await apg.execute("ANALYZE users; ANALYZE keys")
        counts = await apg.fetchrow(
            "SELECT (SELECT count(*) FROM users) AS users, (SELECT count(*) FROM keys) AS keys, "
            "(SELECT count(*) FROM keys WHERE is_frozen IS NOT TRUE) AS non_frozen"
        )
    seconds = time.perf_counter() - t0
    assert counts is not None
    return {"users": counts["users"], "keys": counts["keys"], "non_frozen_keys": counts["non_frozen"], "copy_seconds": seconds}


# ------------------------------------------------------------------------ measuring aids


class RssSampler:
    """Samples the RSS of some processes every ``interval`` s in a thread; keeps each one's peak."""

    def __init__(self, pids: list[int], interval: float = 0.01) -> None:
        self.processes = {pid: psutil.Process(pid) for pid in pids}
        self.interval = interval
        self.peak: dict[int, int] = dict.fromkeys(pids, 0)
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _sample(self) -> None:
        self.samples += 1
        for pid, process in self.processes.items():
            try:
                rss = process.memory_info().rss
            except psutil.NoSuchProcess:
                continue
            if rss > self.peak[pid]:
                self.peak[pid] = rss


def cpu_of(process: psutil.Process) -> float:
    try:
        t = process.cpu_times()
    except psutil.NoSuchProcess:
        return 0.0
    return t.user + t.system


def postgres_cpu(postmaster_pid: int) -> dict[int, float]:
    """CPU seconds of every PostgreSQL backend (children of the postmaster), by pid."""
    try:
        children = psutil.Process(postmaster_pid).children()
    except psutil.NoSuchProcess:
        return {}
    return {child.pid: cpu_of(child) for child in children}


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / MB


# -------------------------------------------------------------------------------- cycle


SETTLED = frozenset({"running", "quarantined", "failed", "stopped"})


async def settle(rt: Any, names: list[str], timeout: float = 30.0) -> dict[str, str]:
    """Wait until no module of ``names`` is starting or crashed (restart pending); their states."""
    deadline = time.monotonic() + timeout
    while True:
        states = {name: rt.module_status(name)["state"] for name in names}
        if all(state in SETTLED for state in states.values()) or time.monotonic() > deadline:
            return states
        await asyncio.sleep(0.05)


async def ensure_running(rt: Any, name: str) -> None:
    """``name`` serving; started again by hand when the supervisor quarantined it."""
    if (await settle(rt, [name]))[name] != "running":
        await rt.start(name)


async def one_cycle(rt: Any, bot: Any, meter: IpcMeter, postmaster_pid: int, expected_keys: int) -> dict[str, Any]:
    from database import async_session_maker

    names = [s["name"] for s in rt.status() if s["state"] == "running"]
    pids = {name: rt.module_status(name)["pid"] for name in names}
    modules = {name: psutil.Process(pid) for name, pid in pids.items()}
    rss_before = {name: rss_mb(pid) for name, pid in pids.items()}
    await rt.run_hooks(RESET_HOOK)  # the stall watch of each module starts afresh with this cycle
    gc.collect()
    cpu_modules0 = {name: cpu_of(p) for name, p in modules.items()}
    cpu_pg0 = postgres_cpu(postmaster_pid)
    ipc0 = meter.snapshot()
    meter.arrivals.clear()
    meter.record_arrivals = True
    with RssSampler(list(pids.values())) as sampler:
        thread0, process0 = time.thread_time(), time.process_time()
        sent_at = time.time()
        t0 = time.perf_counter()
        async with async_session_maker() as session:
            results = await rt.run_hooks(HOOK, bot=bot, session=session, keys=NonFrozenKeys())
        wall = time.perf_counter() - t0
        host_thread_cpu, host_process_cpu = time.thread_time() - thread0, time.process_time() - process0
    meter.record_arrivals = False
    ipc_delta = meter.snapshot().since(ipc0)
    cpu_pg1 = postgres_cpu(postmaster_pid)
    # A process that died during the cycle (killed) has no CPU time to read any more: NaN.
    cpu_modules = {name: cpu_of(p) - cpu_modules0[name] if p.is_running() else float("nan") for name, p in modules.items()}
    replies = {channel.removeprefix("module "): at for at, channel, what in meter.arrivals if what == "response call_hook"}

    values = list(results)
    by_module = {v["module"]: v for v in values if isinstance(v, dict)}
    # A module that died or timed out has no result: recorded, not fatal (see the runtime's log records).
    missing = [name for name in names if by_module.get(name, {}).get("keys") != expected_keys]
    per_module = {}
    for name in names:
        if name in missing:
            continue
        v = by_module[name]
        per_module[name] = {
            "load_seconds": v["hook_started"] - sent_at,
            "hook_seconds": v["hook_finished"] - v["hook_started"],
            "after_hook_seconds": replies.get(name, float("nan")) - v["hook_finished"],
            "reply_seconds": replies.get(name, float("nan")) - sent_at,
            "cpu_seconds": cpu_modules[name],
            "rss_before_mb": rss_before[name],
            "rss_peak_mb": sampler.peak[pids[name]] / MB,
            "ru_maxrss_mb": v["ru_maxrss_kib"] / 1024,
            "key_type": v["key_type"],
            "due_within_24h": v["due"],
            "longest_event_loop_stall_seconds": v["longest_loop_stall"],
        }
    pg_cpu = sum(cpu - cpu_pg0.get(pid, 0.0) for pid, cpu in cpu_pg1.items())
    return {
        "modules": len(names),
        "wall_seconds": wall,
        "host_event_loop_thread_cpu_seconds": host_thread_cpu,
        "host_process_cpu_seconds_incl_sampler_thread": host_process_cpu,
        "module_processes_cpu_seconds": sum(cpu_modules.values()),  # NaN when a module died during the cycle
        "postgres_backends_cpu_seconds": pg_cpu,
        "rss_samples": sampler.samples,
        "per_module": per_module,
        "ipc": ipc_delta.to_json(),
        "messages_sent": sum(v["sent"] for v in values),
        "modules_without_result": missing,
    }


# ------------------------------------------------------------------------ host breakdown


async def host_breakdown(expected_keys: int) -> dict[str, Any]:
    """The cycle's parts measured in this process, interleaved, REPEATS times each."""
    from database import async_session_maker, db, get_non_frozen_key_rows, get_non_frozen_keys

    timings: dict[str, list[float]] = {
        "asyncpg fetch (records)": [],
        "ORM load: get_non_frozen_keys (Key objects)": [],
        "plain rows: get_non_frozen_key_rows (dicts)": [],
        "k.to_dict() for every Key object": [],
        "ipc.encode(list of dicts)": [],
        "ipc.decode(those bytes)": [],
    }
    sizes: list[int] = []
    rss_orm_mb: list[float] = []
    query = "SELECT * FROM keys WHERE is_frozen IS NOT TRUE ORDER BY tg_id"
    engine = db.get_engine()
    me = psutil.Process()
    for _ in range(REPEATS):
        gc.collect()
        async with engine.connect() as conn:
            raw = await conn.get_raw_connection()
            apg = raw.driver_connection
            assert apg is not None
            t0 = time.perf_counter()
            records = await apg.fetch(query)
            timings["asyncpg fetch (records)"].append(time.perf_counter() - t0)
            assert len(records) == expected_keys
            del records
        gc.collect()
        rss0 = me.memory_info().rss
        async with async_session_maker() as session:
            t0 = time.perf_counter()
            keys = await get_non_frozen_keys(session)
            timings["ORM load: get_non_frozen_keys (Key objects)"].append(time.perf_counter() - t0)
            rss_orm_mb.append((me.memory_info().rss - rss0) / MB)
            assert len(keys) == expected_keys
            t0 = time.perf_counter()
            dicts = [k.to_dict() for k in keys]
            timings["k.to_dict() for every Key object"].append(time.perf_counter() - t0)
        del keys
        gc.collect()
        t0 = time.perf_counter()
        payload = ipc.encode(dicts)
        timings["ipc.encode(list of dicts)"].append(time.perf_counter() - t0)
        sizes.append(len(payload))
        del dicts
        t0 = time.perf_counter()
        decoded = ipc.decode(payload)
        timings["ipc.decode(those bytes)"].append(time.perf_counter() - t0)
        assert len(decoded) == expected_keys
        del decoded, payload
        gc.collect()
        async with async_session_maker() as session:
            t0 = time.perf_counter()
            rows = await get_non_frozen_key_rows(session)
            timings["plain rows: get_non_frozen_key_rows (dicts)"].append(time.perf_counter() - t0)
            assert len(rows) == expected_keys
        del rows
    return {
        "seconds": {name: summarize(values) for name, values in timings.items()},
        "encoded_bytes_per_module": sizes[0],
        "host_rss_growth_mb_while_holding_orm_keys": summarize(rss_orm_mb),
    }


# --------------------------------------------------------------------------------- main


async def run(keys: int, modules: int) -> dict[str, Any]:
    log_counter = quiet_runtime_logs()
    log_counter.keep = 20
    meter = IpcMeter().install()
    config = RuntimeConfig(hook_timeouts={HOOK: HOOK_TIMEOUT, BREAKDOWN_HOOK: 300.0})
    try:
        with tempfile.TemporaryDirectory(prefix="bench_notifications_") as tmp:
            folder = Path(tmp, "modules")
            names = [f"n{i:03d}" for i in range(modules)]
            for name in names:
                write_module(folder, name, HOOK_ROUTER, **{"breakdown.py": BREAKDOWN_PY})
            async with embedded_database(Path(tmp, "pg", "data")) as (url, pg):
                t0 = time.perf_counter()
                population = await populate(keys, FROZEN if keys >= FROZEN * 10 else 0, min(USERS, keys))
                population["seconds_total"] = time.perf_counter() - t0
                print(f"   populated {population} ")
                async with open_stack(folder, Path(tmp, "state.json"), config=config, database_url=url, polling=False) as stack:
                    rt = stack.runtime
                    assert rt is not None
                    stack.api.user(ADMIN_CHAT, "Admin")
                    states = [s["state"] for s in rt.status()]
                    if states != ["running"] * modules:
                        raise SystemExit(f"modules not running: {states}")
                    pids = {name: rt.module_status(name)["pid"] for name in names}
                    idle_rss = {name: rss_mb(pid) for name, pid in pids.items()}
                    cycles = []
                    for i in range(CYCLES):
                        # A module killed in the previous cycle is restarted first (unless quarantined).
                        cycle = {"states_before": await settle(rt, names)}
                        cycle.update(await one_cycle(rt, stack.bot, meter, pg.pid, keys))
                        cycles.append(cycle)
                        print(f"   cycle {i + 1} with {cycle['modules']} modules: {cycle['wall_seconds']:.2f} s")
                    await asyncio.sleep(1.0)
                    states_after = await settle(rt, names)
                    rss_after = {
                        name: rss_mb(rt.module_status(name)["pid"]) for name, state in states_after.items() if state == "running"
                    }
                    for name in names[1:]:
                        await rt.stop(name)
                    cycles_one = []
                    for i in range(CYCLES_ONE):
                        await ensure_running(rt, names[0])
                        cycle = await one_cycle(rt, stack.bot, meter, pg.pid, keys)
                        cycles_one.append(cycle)
                        print(f"   cycle {i + 1} with {cycle['modules']} module: {cycle['wall_seconds']:.2f} s")
                    await ensure_running(rt, names[0])
                    breakdown_results = list(await rt.run_hooks(BREAKDOWN_HOOK, repeats=REPEATS))
                    ok = len(breakdown_results) == 1 and breakdown_results[0].get("keys") == keys
                    module_breakdown = breakdown_results[0] if ok else None
                    chat = [m.text for m in stack.api.user(ADMIN_CHAT).chat if m.from_bot]
                    restarts = sum(s["restarts"] for s in rt.status())
                breakdown = await host_breakdown(keys)
    finally:
        meter.uninstall()

    def per_module_stat(runs: list[dict[str, Any]], key: str) -> dict[str, float]:
        return summarize([m[key] for c in runs for m in c["per_module"].values()])

    def cycle_stat(runs: list[dict[str, Any]], key: str) -> dict[str, float]:
        return summarize([c[key] for c in runs])

    summary = {}
    for label, runs in ((f"{modules} modules", cycles), ("1 module", cycles_one)):
        summary[label] = {
            "cycles": len(runs),
            "module_results_missing": sum(len(c["modules_without_result"]) for c in runs),
            "wall_seconds": cycle_stat(runs, "wall_seconds"),
            "per_module_load_seconds": per_module_stat(runs, "load_seconds"),
            "per_module_hook_seconds": per_module_stat(runs, "hook_seconds"),
            "per_module_longest_event_loop_stall_seconds": per_module_stat(runs, "longest_event_loop_stall_seconds"),
            "per_module_after_hook_seconds": per_module_stat(runs, "after_hook_seconds"),
            "per_module_cpu_seconds": per_module_stat(runs, "cpu_seconds"),
            "per_module_rss_peak_mb": per_module_stat(runs, "rss_peak_mb"),
            "per_module_rss_before_mb": per_module_stat(runs, "rss_before_mb"),
            "host_event_loop_thread_cpu_seconds": cycle_stat(runs, "host_event_loop_thread_cpu_seconds"),
            "module_processes_cpu_seconds": cycle_stat(runs, "module_processes_cpu_seconds"),
            "postgres_backends_cpu_seconds": cycle_stat(runs, "postgres_backends_cpu_seconds"),
            "ipc_bytes_host_sent": cycle_stat([{"v": c["ipc"]["bytes"]["sent"]} for c in runs], "v"),
            "ipc_bytes_host_received": cycle_stat([{"v": c["ipc"]["bytes"]["received"]} for c in runs], "v"),
        }
    shipped = breakdown["encoded_bytes_per_module"]
    return {
        "keys": keys,
        "modules": modules,
        "population": population,
        "runtime_startup_seconds": stack.startup_seconds,
        "hook_timeout_seconds": HOOK_TIMEOUT,
        "heartbeat": [config.heartbeat_interval, config.heartbeat_timeout],
        "idle_module_rss_mb": idle_rss,
        "module_rss_mb_1s_after_the_cycles": rss_after,
        "module_states_after_the_cycles": states_after,
        "summary": summary,
        "cycles": cycles,
        "cycles_one_module": cycles_one,
        "breakdown_in_a_module_process": None
        if module_breakdown is None
        else {
            "seconds": {part: summarize(v) for part, v in module_breakdown["seconds"].items()},
            "encoded_bytes": module_breakdown["encoded_bytes"][0],
            "rss_growth_mb_while_holding_orm_keys": summarize([b / MB for b in module_breakdown["rss_growth_bytes_orm"]]),
        },
        "breakdown_in_the_host_process": breakdown,
        "shipping_instead": {
            "bytes_per_module": shipped,
            "bytes_per_cycle_all_modules": shipped * modules,
            "max_frame_bytes": config.max_frame,
            "fits_one_frame": shipped <= config.max_frame,
        },
        "bot_messages_received_by_admin": chat,
        "module_restarts_during_run": restarts,
        "runtime_log_records_warning_or_worse": log_counter.counts,
        "runtime_log_first_records": log_counter.first,
    }


def print_report(r: dict[str, Any]) -> None:
    print(f"-- {r['keys']} keys, population: {r['population']}")
    rows = []
    for label, s in r["summary"].items():
        rows.append(
            [
                label,
                s["cycles"],
                s["wall_seconds"]["p50"],
                s["wall_seconds"]["min"],
                s["wall_seconds"]["max"],
                s["per_module_load_seconds"]["p50"],
                s["per_module_hook_seconds"]["p50"],
                s["per_module_after_hook_seconds"]["p50"],
                s["per_module_cpu_seconds"]["p50"],
                s["per_module_rss_peak_mb"]["max"],
                s["host_event_loop_thread_cpu_seconds"]["p50"],
                s["postgres_backends_cpu_seconds"]["p50"],
                s["ipc_bytes_host_sent"]["p50"],
                s["ipc_bytes_host_received"]["p50"],
                s["module_results_missing"],
            ]
        )
    print_table(
        [
            "cycle",
            "n",
            "wall p50 s",
            "min",
            "max",
            "load s",
            "hook s",
            "after s",
            "mod CPU s",
            "peak RSS MiB",
            "host CPU s",
            "pg CPU s",
            "IPC out B",
            "IPC in B",
            "missing",
        ],
        rows,
    )
    for label, s in r["summary"].items():
        stall = s["per_module_longest_event_loop_stall_seconds"]
        print(
            f"   {label}: longest event-loop stall in a module process p50 {stall['p50']:.2f} s, max {stall['max']:.2f} s "
            f"(heartbeat: a ping every {r['heartbeat'][0]:g} s must be answered within {r['heartbeat'][1]:g} s)"
        )
    print(f"   idle module RSS (MiB): {r['idle_module_rss_mb']}")
    print(f"   module RSS 1 s after the multi-module cycles (MiB): {r['module_rss_mb_1s_after_the_cycles']}")
    m, b = r["breakdown_in_a_module_process"], r["breakdown_in_the_host_process"]

    def cell(v: dict[str, float] | None) -> str:
        return "failed" if v is None else f"{v['p50']:.3f} ({v['min']:.3f}-{v['max']:.3f})"

    print_table(
        ["seconds, p50 (min-max)", "in a module process", "in the host"],
        [[k, cell(m["seconds"][k] if m else None), cell(h)] for k, h in b["seconds"].items()],
    )
    s = r["shipping_instead"]
    print(
        f"   shipping the keys instead: {s['bytes_per_module'] / MB:.1f} MiB per module, "
        f"{s['bytes_per_cycle_all_modules'] / MB:.1f} MiB per cycle; frame cap {s['max_frame_bytes'] / MB:.0f} MiB "
        f"({'fits' if s['fits_one_frame'] else 'does NOT fit'})"
    )
    print(
        f"   RSS growth holding the ORM keys: module process "
        f"{m['rss_growth_mb_while_holding_orm_keys']['p50'] if m else float('nan'):.0f} MiB, "
        f"host {b['host_rss_growth_mb_while_holding_orm_keys']['p50']:.0f} MiB"
    )
    print(
        f"   messages the admin got: {len(r['bot_messages_received_by_admin'])}; module restarts: "
        f"{r['module_restarts_during_run']}; runtime warnings/errors: {r['runtime_log_records_warning_or_worse'] or 'none'}"
    )
    for line in r["runtime_log_first_records"][:8]:
        print(f"   log: {line[:200]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--keys", type=int, default=KEYS, help="non-frozen keys to create")
    parser.add_argument("--modules", type=int, default=MODULES, help="modules subscribing periodic_notifications")
    parser.add_argument("--tag", help="write results/bench_notifications.TAG.json")
    args = parser.parse_args()
    info = machine_info()
    result = asyncio.run(run(args.keys, args.modules))
    print_header("bench_notifications: periodic_notifications at scale", info)
    print_report(result)
    write_results("bench_notifications", {"machine": info, **result}, args.tag)


if __name__ == "__main__":
    sys.exit(main())
