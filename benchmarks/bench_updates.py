"""Updates through the module runtime: core-update overhead of 20 modules, and the whole stack.

Run from the project root:  PYTHONPATH=/work/main python benchmarks/bench_updates.py
Options: ``--concurrency N`` (simulated users in flight in the throughput runs, default 16: a
user presses again as soon as its answer is recorded, while the previous update may still be
returning, so a module can hold up to 2N; N <= 16 keeps that within the default
``max_updates_in_flight`` of 32, beyond which the host answers "unavailable"; §4 and §9 ran 20),
``--database`` (module processes get a database, so each forwarded update opens a session
there as in production), ``--tag NAME`` (writes results/bench_updates.NAME.json).

Part A — added latency of a core-handled update with 20 modules loaded (no network):
  ``await dp.feed_update(bot, update)`` called directly, interleaved, on two dispatchers:
  * ``core only``: a Dispatcher with just the core router;
  * ``20 modules + core``: ``modules_router(rt)`` of a runtime with 20 module processes first,
    then the same core router.
  Two updates only the core handles: a callback query ``"profile"`` and a message ``/start``;
  the core handlers just return. The 20 modules' routers use typical filters (``F.data ==``,
  ``F.data.startswith``, ``F.data.in_``, ``Command``, a ``StatesGroup`` state;
  ``_bridge.TYPICAL_ROUTER``). An ``IpcMeter`` counts every IPC message of the host meanwhile.
  Target: difference of the medians < 0.2 ms.

Part B — updates per second through the whole stack: a simulated user presses an inline button
in the local Bot API server; aiogram polls it (``polling_timeout=1``: the local server answers
a long poll as soon as an update is queued); the host routes the callback query; the handler
answers it with ``callback.answer("pong")``; the update is complete when the local server has
recorded that answer (``_bridge.AnswerWatcher``). Four cases on three stacks that run side by side in this
process, each stack with its own local Bot API server, bot and polling dispatcher:
  * ``in-process router``: no runtime, the handler in a core router on the Dispatcher;
  * ``module, 1 loaded``: a runtime with 1 module (``m000``), the handler in that module;
  * ``module, 20 loaded``: a runtime with 20 modules, the handler in the last one (``m019``);
  * ``in-process router, 20 loaded``: the core router's handler on the 20-module stack.
  The host's per-module Bot API rate limit (30 calls/s by default) is raised to BOT_API_RATE so
  that the transport is measured, not the limiter. Every stack is built as ``solobot run``
  builds the host: its bot's HTTP session keeps aiogram's ``Response[T]`` models
  (``ResponseTypesKept``), and the heap is frozen once the stacks have started
  (``host.heap.freeze_startup_heap``). Before §19 neither was done here, which cost every stack
  garbage-collector passes over the start-up heap and ``Response[T]`` rebuilds (~5 ms each),
  the module stacks more often (more allocations per update).
  In every round and case: a throughput run (CONCURRENCY users, each pressing again as soon as
  its previous press was answered, until UPDATES_PER_RUN are done) and a latency run (one user,
  one update in flight, LATENCY_PER_RUN updates). The case order rotates every round.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import psutil
from _bridge import AnswerWatcher, IpcCounts, IpcMeter, Stack, embedded_database, open_stack, write_typical_modules
from _common import machine_info, print_header, print_table, quiet_runtime_logs, summarize, write_results
from aiogram import Bot, Dispatcher, F, Router
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.filters import CommandStart
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update

from host.heap import freeze_startup_heap
from runtime import HostServices, ModuleRuntime, RuntimeConfig
from runtime.aiogram_bridge.update_forwarding import UpdateForwarder, modules_router

MODULES = 20
TARGET_ADDED_MS = 0.2

# Part A
A_WARMUP = 1000
A_ROUNDS = 20
A_PER_ROUND = 500

# Part B
B_WARMUP_UPDATES = 200
B_ROUNDS = 12
UPDATES_PER_RUN = 500
LATENCY_PER_RUN = 60
ANSWER_TIMEOUT = 10.0
BOT_API_RATE = 1_000_000.0  # calls/s per module (the host's default is 30)
HEARTBEAT = frozenset({"request ping", "response ping"})


# ------------------------------------------------------------------------- core routers


def core_router() -> Router:
    """The stand-in core: an in-process ping handler and two handlers that only return."""
    router = Router(name="core")

    @router.callback_query(F.data == "core|ping")
    async def ping(callback: CallbackQuery) -> None:
        await callback.answer("pong")

    @router.callback_query(F.data == "profile")
    async def profile(callback: CallbackQuery) -> str:
        return "core"

    @router.message(CommandStart())
    async def start(message: Message) -> str:
        return "core"

    return router


# ------------------------------------------------------------------------------ part A


def core_updates(bot: Bot) -> dict[str, Update]:
    user = {"id": 777, "is_bot": False, "first_name": "U"}
    chat = {"id": 777, "type": "private", "first_name": "U"}
    message = {
        "message_id": 5,
        "date": 0,
        "chat": chat,
        "from": {"id": bot.id, "is_bot": True, "first_name": "B"},
        "text": "menu",
    }
    callback = {"id": "1", "from": user, "chat_instance": "1", "message": message, "data": "profile"}
    start = {
        "message_id": 6,
        "date": 0,
        "chat": chat,
        "from": user,
        "text": "/start",
        "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
    }
    context = {"bot": bot}  # bound, so feed_update does not re-validate it every time
    return {
        'callback "profile"': Update.model_validate({"update_id": 1, "callback_query": callback}, context=context),
        'message "/start"': Update.model_validate({"update_id": 2, "message": start}, context=context),
    }


async def part_a(tmp: str, meter: IpcMeter) -> dict[str, Any]:
    folder = Path(tmp, "a_modules")
    write_typical_modules(folder, MODULES)
    bot = Bot("123456:TEST")  # handlers only return: nothing goes to the network
    storage = MemoryStorage()
    services = HostServices(bot=bot, fsm_storage=storage)
    started = time.perf_counter()
    async with ModuleRuntime(
        folder, state_file=Path(tmp, "a_state.json"), config=RuntimeConfig(), services=services, sandbox=False
    ) as rt:
        startup = time.perf_counter() - started
        freeze_startup_heap()  # as the host does once it has started (host/app.py)
        states = [s["state"] for s in rt.status()]
        if states != ["running"] * MODULES:
            raise SystemExit(f"part A: modules not running: {states}")
        dp_core = Dispatcher(storage=storage)
        dp_core.include_router(core_router())
        dp_modules = Dispatcher(storage=storage)
        dp_modules.include_routers(modules_router(rt), core_router())
        updates = core_updates(bot)

        # The route index decides without IPC: no candidate for the core's updates, one for a module's.
        forwarder = UpdateForwarder(rt)
        for name, update in updates.items():
            if await forwarder.candidates(update.event, update, None) is not False:
                raise SystemExit(f"part A: a module claims the core's update {name}")
        probe = updates['callback "profile"'].callback_query
        assert probe is not None
        probe_m007 = probe.model_copy(update={"data": "m007|page|3"})
        found = await forwarder.candidates(probe_m007, updates['callback "profile"'], None)
        if not found or [s.name for s in found["module_candidates"]] != ["m007"]:
            raise SystemExit(f"part A: route index did not single out m007: {found!r:.200}")

        cases: dict[str, tuple[Dispatcher, Update]] = {}
        for name, update in updates.items():
            cases[f"{name}, core only"] = (dp_core, update)
            cases[f"{name}, {MODULES} modules + core"] = (dp_modules, update)
        for label, (dp, update) in cases.items():
            result = await dp.feed_update(bot, update)
            if result is UNHANDLED or result != "core":
                raise SystemExit(f"part A: {label}: the core handler did not handle it ({result!r})")

        for dp, update in cases.values():
            for _ in range(A_WARMUP):
                await dp.feed_update(bot, update)
        samples: dict[str, list[float]] = {label: [] for label in cases}
        names = list(cases)
        clock = time.perf_counter
        before = meter.snapshot()
        t_measure = clock()
        for round_no in range(A_ROUNDS):
            order = names[round_no % len(names) :] + names[: round_no % len(names)]
            for label in order:
                dp, update = cases[label]
                out = samples[label]
                for _ in range(A_PER_ROUND):
                    t0 = clock()
                    await dp.feed_update(bot, update)
                    out.append(clock() - t0)
        measure_seconds = clock() - t_measure
        ipc = meter.snapshot().since(before)
        restarts = sum(s["restarts"] for s in rt.status())
    await bot.session.close()

    stats = {label: summarize(values, 1e3) for label, values in samples.items()}  # milliseconds
    added = {}
    for name in updates:
        core, mods = stats[f"{name}, core only"], stats[f"{name}, {MODULES} modules + core"]
        diff = mods["p50"] - core["p50"]
        added[name] = {
            "p50_core_only_ms": core["p50"],
            "p50_with_modules_ms": mods["p50"],
            "added_p50_ms": diff,
            "added_p99_ms": mods["p99"] - core["p99"],
            "target_ms": TARGET_ADDED_MS,
            "met": diff < TARGET_ADDED_MS,
        }
    not_heartbeat = {**ipc.by_message("sent", skip=HEARTBEAT), **ipc.by_message("received", skip=HEARTBEAT)}
    return {
        "unit": "milliseconds per feed_update",
        "modules": MODULES,
        "runtime_startup_seconds": startup,
        "warmup_calls_per_case": A_WARMUP,
        "rounds": A_ROUNDS,
        "calls_per_round": A_PER_ROUND,
        "measure_seconds": measure_seconds,
        "stats": stats,
        "added": added,
        "ipc_during_measurement": ipc.to_json(),
        "ipc_messages_other_than_heartbeats": not_heartbeat,
        "no_request_reached_a_module": not not_heartbeat,
        "module_restarts_during_run": restarts,
    }


# ------------------------------------------------------------------------------ part B


class Case:
    """One kind of update on one stack: its button, its users, and how to drive them."""

    def __init__(self, label: str, stack: Stack, watcher: AnswerWatcher, data: str, first_user: int, users: int) -> None:
        self.label = label
        self.stack = stack
        self.watcher = watcher
        self.data = data
        self.users = [stack.api.user(first_user + i, f"u{i}") for i in range(users)]
        self.query_ids: list[str] = []

    async def prepare(self) -> None:
        markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="ping", callback_data=self.data)]])
        for user in self.users:
            await self.stack.bot.send_message(user.id, "menu", reply_markup=markup)

    async def one(self, user_index: int) -> float:
        """Press once; seconds from the update being queued to the answer being recorded."""
        user = self.users[user_index]
        t0 = time.perf_counter()
        query_id = await user.press(self.data)
        self.query_ids.append(query_id)
        done = await asyncio.wait_for(self.watcher.expect(query_id), ANSWER_TIMEOUT)
        return done - t0

    def module_pids(self) -> list[int]:
        rt = self.stack.runtime
        return [s["pid"] for s in rt.status() if s["pid"]] if rt is not None else []

    def check_answers(self) -> int:
        """How many of the pressed queries were not answered "pong" (expected: none)."""
        queries = self.stack.api.world.callback_queries
        bad = [queries[q].answer for q in self.query_ids if (queries[q].answer or {}).get("text") != "pong"]
        self.query_ids.clear()
        if bad:
            print(f"   {self.label}: {len(bad)} presses not answered 'pong', e.g. {bad[0]!r:.300}")
        return len(bad)


async def closed_loop(case: Case, total: int, concurrency: int) -> tuple[float, list[float]]:
    """``concurrency`` users pressing back to back until ``total`` updates are done."""
    per_user = [total // concurrency + (1 if i < total % concurrency else 0) for i in range(concurrency)]
    latencies: list[float] = []

    async def user_loop(index: int, count: int) -> None:
        for _ in range(count):
            latencies.append(await case.one(index))

    t0 = time.perf_counter()
    await asyncio.gather(*(user_loop(i, n) for i, n in enumerate(per_user) if n))
    return time.perf_counter() - t0, latencies


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system
    return total


async def part_b(tmp: str, meter: IpcMeter, concurrency: int, database_url: str | None) -> dict[str, Any]:
    dir1, dir20 = Path(tmp, "b_one"), Path(tmp, "b_twenty")
    write_typical_modules(dir1, 1)
    names20 = write_typical_modules(dir20, MODULES)
    config = RuntimeConfig()
    # The host limits each module to 30 Bot API calls/s by default; raised here so that the
    # transport is measured, not the limiter.
    module_stack: dict[str, Any] = {"database_url": database_url, "bot_api_rate": BOT_API_RATE}
    async with AsyncExitStack() as stack:
        t0 = time.perf_counter()
        s0, s1, s20 = await asyncio.gather(
            stack.enter_async_context(open_stack(None, None, core=core_router())),
            stack.enter_async_context(
                open_stack(dir1, Path(tmp, "b_state1.json"), core=core_router(), config=config, **module_stack)
            ),
            stack.enter_async_context(
                open_stack(dir20, Path(tmp, "b_state20.json"), core=core_router(), config=config, **module_stack)
            ),
        )
        startup = time.perf_counter() - t0
        freeze_startup_heap()  # as the host does once it has started (host/app.py)
        for s, n in ((s1, 1), (s20, MODULES)):
            assert s.runtime is not None
            states = [x["state"] for x in s.runtime.status()]
            if states != ["running"] * n:
                raise SystemExit(f"part B: modules not running: {states}")
        w0, w1, w20 = AnswerWatcher(s0.api), AnswerWatcher(s1.api), AnswerWatcher(s20.api)
        cases = [
            Case("in-process router (no runtime)", s0, w0, "core|ping", 10_000, concurrency),
            Case("module, 1 loaded", s1, w1, "m000|ping", 20_000, concurrency),
            Case(f"module, {MODULES} loaded (target {names20[-1]})", s20, w20, f"{names20[-1]}|ping", 30_000, concurrency),
            Case(f"in-process router, {MODULES} modules loaded", s20, w20, "core|ping", 40_000, concurrency),
        ]
        for case in cases:
            await case.prepare()

        # Warm-up, and the IPC messages one update costs (counted on a sequential run).
        ipc_per_update: dict[str, dict[str, float]] = {}
        for case in cases:
            await closed_loop(case, B_WARMUP_UPDATES, concurrency)
            for _ in range(20):
                await case.one(0)
            before = meter.snapshot()
            n = 50
            for _ in range(n):
                await case.one(0)
            ipc = meter.snapshot().since(before)
            ipc_per_update[case.label] = {
                **{f"host sent: {k}": v / n for k, v in ipc.by_message("sent", skip=HEARTBEAT).items()},
                **{f"host received: {k}": v / n for k, v in ipc.by_message("received", skip=HEARTBEAT).items()},
            }
            if case.check_answers():
                raise SystemExit(f"part B: {case.label}: some presses were not answered 'pong'")

        throughput: dict[str, list[float]] = {c.label: [] for c in cases}
        loaded_latency: dict[str, list[float]] = {c.label: [] for c in cases}
        latency: dict[str, list[float]] = {c.label: [] for c in cases}
        host_cpu: dict[str, list[float]] = {c.label: [] for c in cases}
        module_cpu: dict[str, list[float]] = {c.label: [] for c in cases}
        ipc_bytes: dict[str, IpcCounts] = {c.label: IpcCounts() for c in cases}
        bad_answers = 0
        t_measure = time.perf_counter()
        for round_no in range(B_ROUNDS):
            order = cases[round_no % len(cases) :] + cases[: round_no % len(cases)]
            for case in order:
                gc.collect()
                pids = case.module_pids()
                cpu_host0, cpu_mod0, ipc0 = time.process_time(), cpu_seconds(pids), meter.snapshot()
                elapsed, lat = await closed_loop(case, UPDATES_PER_RUN, concurrency)
                cpu_host1, cpu_mod1 = time.process_time(), cpu_seconds(pids)
                delta = meter.snapshot().since(ipc0)
                acc = ipc_bytes[case.label]
                acc.bytes_sent.update(delta.bytes_sent)
                acc.bytes_received.update(delta.bytes_received)
                throughput[case.label].append(UPDATES_PER_RUN / elapsed)
                loaded_latency[case.label].extend(lat)
                host_cpu[case.label].append((cpu_host1 - cpu_host0) / UPDATES_PER_RUN)
                module_cpu[case.label].append((cpu_mod1 - cpu_mod0) / UPDATES_PER_RUN)
                for _ in range(LATENCY_PER_RUN):
                    latency[case.label].append(await case.one(0))
                bad_answers += case.check_answers()
        measure_seconds = time.perf_counter() - t_measure
        restarts = sum(x["restarts"] for s in (s1, s20) if s.runtime for x in s.runtime.status())
        startup_each = {"1 module": s1.startup_seconds, f"{MODULES} modules": s20.startup_seconds}

    measured = B_ROUNDS * UPDATES_PER_RUN
    results: dict[str, Any] = {}
    for case in cases:
        label = case.label
        results[label] = {
            "updates_per_second": summarize(throughput[label]),
            "latency_ms_one_in_flight": summarize(latency[label], 1e3),
            f"latency_ms_{concurrency}_in_flight": summarize(loaded_latency[label], 1e3),
            "host_cpu_us_per_update": summarize(host_cpu[label], 1e6),
            "module_processes_cpu_us_per_update": summarize(module_cpu[label], 1e6),
            "ipc_messages_per_update": ipc_per_update[label],
            "ipc_bytes_per_update": {k: v / measured for k, v in ipc_bytes[label].total_bytes().items()},
        }
    base = results[cases[0].label]["updates_per_second"]["p50"]
    base_lat = results[cases[0].label]["latency_ms_one_in_flight"]["p50"]
    ratios = {
        label: {
            "throughput_vs_in_process": r["updates_per_second"]["p50"] / base,
            "latency_p50_vs_in_process": r["latency_ms_one_in_flight"]["p50"] / base_lat,
        }
        for label, r in results.items()
    }
    return {
        "concurrency": concurrency,
        "modules_get_a_database": database_url is not None,
        "rounds": B_ROUNDS,
        "updates_per_throughput_run": UPDATES_PER_RUN,
        "updates_per_latency_run": LATENCY_PER_RUN,
        "warmup_updates_per_case": B_WARMUP_UPDATES + 20 + 50,
        "stacks_startup_seconds": startup,
        "runtime_startup_seconds": startup_each,
        "measure_seconds": measure_seconds,
        "cases": results,
        "ratios": ratios,
        "presses_not_answered_pong": bad_answers,
        "module_restarts_during_run": restarts,
    }


# ---------------------------------------------------------------------------------- main


async def run(concurrency: int, with_database: bool) -> dict[str, Any]:
    log_counter = quiet_runtime_logs()
    meter = IpcMeter().install()
    try:
        with tempfile.TemporaryDirectory(prefix="bench_updates_") as tmp:
            a = await part_a(tmp, meter)
            if with_database:
                async with embedded_database(Path(tmp, "pg")) as (url, _pg):
                    b = await part_b(tmp, meter, concurrency, url)
            else:
                b = await part_b(tmp, meter, concurrency, None)
    finally:
        meter.uninstall()
    return {
        "core_update_added_latency": a,
        "updates_through_the_stack": b,
        "runtime_log_records_warning_or_worse": log_counter.counts,
        "runtime_log_first_records": log_counter.first,
    }


def print_report(result: dict[str, Any]) -> None:
    a = result["core_update_added_latency"]
    print(f"-- A. core-handled update, feed_update (ms), {a['modules']} modules vs none")
    rows = [[label, s["n"], s["p50"], s["p90"], s["p99"], s["mean"]] for label, s in a["stats"].items()]
    print_table(["case", "n", "p50", "p90", "p99", "mean"], rows)
    for name, d in a["added"].items():
        verdict = "met" if d["met"] else "MISSED"
        print(f"   {name}: added p50 {d['added_p50_ms'] * 1e3:.1f} us (target < {d['target_ms'] * 1e3:g} us: {verdict})")
    print(f"   IPC during part A besides heartbeats: {a['ipc_messages_other_than_heartbeats'] or 'none'}")
    b = result["updates_through_the_stack"]
    print(f"-- B. whole stack, {b['concurrency']} users in flight for throughput, 1 for latency")
    rows = []
    for label, r in b["cases"].items():
        tp, lat = r["updates_per_second"], r["latency_ms_one_in_flight"]
        loaded = r[f"latency_ms_{b['concurrency']}_in_flight"]
        rows.append(
            [
                label,
                tp["p50"],
                tp["min"],
                tp["max"],
                lat["p50"],
                lat["p99"],
                loaded["p50"],
                loaded["p99"],
                r["host_cpu_us_per_update"]["p50"],
                r["module_processes_cpu_us_per_update"]["p50"],
                b["ratios"][label]["throughput_vs_in_process"],
            ]
        )
    print_table(
        [
            "case",
            "upd/s p50",
            "min",
            "max",
            "lat1 p50",
            "lat1 p99",
            "latN p50",
            "latN p99",
            "host us/upd",
            "mod us/upd",
            "x in-proc",
        ],
        rows,
    )
    for label, r in b["cases"].items():
        print(f"   IPC per update, {label}: {r['ipc_messages_per_update'] or 'none'}")
    print(
        f"   presses not answered 'pong': {b['presses_not_answered_pong']}; module restarts: "
        f"{b['module_restarts_during_run'] + a['module_restarts_during_run']}; runtime warnings/errors: "
        f"{result['runtime_log_records_warning_or_worse'] or 'none'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=16, help="simulated users in flight in the throughput runs")
    parser.add_argument("--database", action="store_true", help="give module processes a database (embedded PostgreSQL)")
    parser.add_argument("--tag", help="write results/bench_updates.TAG.json")
    args = parser.parse_args()
    info = machine_info()
    result = asyncio.run(run(args.concurrency, args.database))
    print_header("bench_updates: updates through the module runtime", info)
    print_report(result)
    write_results("bench_updates", {"machine": info, **result}, args.tag)


if __name__ == "__main__":
    sys.exit(main())
