"""Hook round trip: ``rt.run_hooks`` to 1 and 10 module processes vs the same hooks in-process.

Run from the project root:  PYTHONPATH=/work/main python benchmarks/bench_hooks.py
Variant on one core (everything inherits the affinity, zygote and modules included):
    PYTHONPATH=/work/main taskset -c 0 python benchmarks/bench_hooks.py --tag cpu0
(``--tag NAME`` writes results/bench_hooks.NAME.json instead of results/bench_hooks.json.)

Measured side by side in one run, in interleaved rounds (the order rotates every round):

* ``runtime, 1 module``   ``await rt1.run_hooks("profile_menu", chat_id=1, admin=False)``
* ``runtime, 10 modules`` the same on a second runtime whose folder holds 10 modules;
* ``in-process, 1/10 fn`` the very same hook functions imported into this process, registered
  with ``hooks.hooks.register_hook`` and run with ``hooks.hooks.call_registered`` (upstream's
  in-process way, no runtime involved; registered under another hook name so the runtimes
  above do not also run them as "core" hooks);
* ``bare msgpack ping-pong`` a reference floor: one length-prefixed msgpack request/reply of a
  similar shape over a socketpair between this process and a forked child, both asyncio;
* ``host validates the button`` what the host must do with the module's answer however lean the
  runtime: rebuild the ``InlineKeyboardButton`` from untrusted fields (``model_validate``).

"Floor" = ping-pong + the hook's own work (in-process, 1 fn) + the host's validation of its
button, each measured here: what a module-process hook call costs with no runtime machinery at
all (no task, framing, typed outcome or latency record on either side). ``floor / ping-pong``
is the best ratio this process model can reach on this machine.

Targets (not assertions): 1 module p50 <= 1.3x the bare ping-pong's p50 measured in the same run
(and <= 300 us), 10 modules p50 <= 450 us. "CPU/call" is the CPU time (user + system) of every
process a case involves (this one, its module processes or the echo child) per call: unlike the
wall time, it hardly depends on what else a shared machine runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import struct
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgpack
import psutil
from _common import machine_info, print_header, print_table, quiet_runtime_logs, summarize, write_results
from _modules import load_hook_functions, write_modules
from aiogram.types import InlineKeyboardButton

from hooks.constants import DEFAULT_HOOK_TIMEOUT
from hooks.hooks import call_registered, register_hook
from runtime import ModuleRuntime, RuntimeConfig

WARMUP = 300
ROUNDS = 20
PER_ROUND = {  # calls per case per round; ROUNDS * this = measured calls
    "runtime, 1 module": 150,
    "runtime, 10 modules": 50,
    "in-process, 1 fn": 150,
    "in-process, 10 fns": 150,
    "bare msgpack ping-pong": 150,
    "host validates the button": 150,
}
TARGETS_US = {"runtime, 1 module": 300.0, "runtime, 10 modules": 450.0}
KWARGS = {"chat_id": 1, "admin": False}
_HEADER = struct.Struct(">I")


# ------------------------------------------------------------ ping-pong reference


class _FrameProtocol(asyncio.Protocol):
    """Length-prefixed msgpack frames; ``on_message`` gets each decoded message."""

    def __init__(self, on_message: Callable[[_FrameProtocol, Any], None]) -> None:
        self.on_message = on_message
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.lost = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        while len(buffer) >= 4:
            (size,) = _HEADER.unpack_from(buffer)
            if len(buffer) < 4 + size:
                return
            payload = bytes(buffer[4 : 4 + size])
            del buffer[: 4 + size]
            self.on_message(self, msgpack.unpackb(payload, raw=False))

    def send(self, message: Any) -> None:
        assert self.transport is not None
        payload = msgpack.packb(message, use_bin_type=True)
        self.transport.write(_HEADER.pack(len(payload)) + payload)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)


def _echo_reply(proto: _FrameProtocol, message: Any) -> None:
    _kind, call_id, _method, _params = message
    proto.send([1, call_id, {"results": [{"after": "balance", "button": {"text": "m0", "callback_data": "m0"}}], "failures": []}])


async def _echo_server(sock: socket.socket) -> None:
    loop = asyncio.get_running_loop()
    _, proto = await loop.connect_accepted_socket(lambda: _FrameProtocol(_echo_reply), sock=sock)
    await proto.lost


def fork_echo_child() -> tuple[int, socket.socket]:
    """Fork the ping-pong peer before any event loop exists in this process."""
    parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            parent_end.close()
            asyncio.run(_echo_server(child_end))
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    child_end.close()
    return pid, parent_end


class PingPongClient:
    def __init__(self) -> None:
        self.proto: _FrameProtocol | None = None
        self.waiter: asyncio.Future[Any] | None = None
        self.next_id = 0

    async def connect(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        _, self.proto = await loop.connect_accepted_socket(lambda: _FrameProtocol(self._on_reply), sock=sock)

    def _on_reply(self, _proto: _FrameProtocol, message: Any) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(message)

    async def call(self) -> Any:
        assert self.proto is not None
        self.next_id += 1
        self.waiter = asyncio.get_running_loop().create_future()
        self.proto.send([0, self.next_id, "call_hook", {"hook": "profile_menu", "kwargs": KWARGS}])
        return await self.waiter

    def close(self) -> None:
        if self.proto is not None and self.proto.transport is not None:
            self.proto.transport.close()


# ---------------------------------------------------------------- measurement


def cpu_seconds(processes: list[psutil.Process]) -> float:
    """CPU time (user + system) used so far by this process and ``processes``."""
    own = time.process_time()
    return own + sum(sum(p.cpu_times()[:2]) for p in processes)


async def measure(
    cases: dict[str, Callable[[], Awaitable[Any]]], involved: dict[str, list[psutil.Process]]
) -> tuple[dict[str, list[float]], dict[str, float], dict[str, float]]:
    """Wall time per call; CPU seconds per call of every process a case involves (this one and its
    module processes or echo child: CPU time barely depends on what else the machine runs); and
    of this process alone (the host's share)."""
    samples: dict[str, list[float]] = {name: [] for name in cases}
    cpu: dict[str, float] = dict.fromkeys(cases, 0.0)
    own: dict[str, float] = dict.fromkeys(cases, 0.0)
    names = list(cases)
    for name in names:  # warm-up
        for _ in range(WARMUP):
            await cases[name]()
    clock = time.perf_counter
    for round_no in range(ROUNDS):
        order = names[round_no % len(names) :] + names[: round_no % len(names)]
        for name in order:
            fn, out = cases[name], samples[name]
            before, own_before = cpu_seconds(involved[name]), time.process_time()
            for _ in range(PER_ROUND[name]):
                t0 = clock()
                await fn()
                out.append(clock() - t0)
            own[name] += time.process_time() - own_before
            cpu[name] += cpu_seconds(involved[name]) - before
    per_call = {name: len(samples[name]) for name in names}
    return samples, {name: cpu[name] / per_call[name] for name in names}, {name: own[name] / per_call[name] for name in names}


_BUTTON_FIELDS = {"text": "m0", "callback_data": "m0"}


async def _validate_button() -> InlineKeyboardButton:
    return InlineKeyboardButton.model_validate(_BUTTON_FIELDS)


def check_results(label: str, results: Any, expected: int) -> None:
    if len(results) != expected:
        raise SystemExit(f"{label}: expected {expected} results, got {len(results)}: {results!r:.300}")
    for value in results:
        button = value.get("button") if isinstance(value, dict) else None
        if value.get("after") != "balance" or type(button).__name__ != "InlineKeyboardButton":
            raise SystemExit(f"{label}: unexpected result {value!r:.300}")


async def run(echo_sock: socket.socket, echo_pid: int) -> dict[str, Any]:
    log_counter = quiet_runtime_logs()
    with tempfile.TemporaryDirectory(prefix="bench_hooks_") as tmp:
        dir1, dir10 = Path(tmp, "one"), Path(tmp, "ten")
        names1, names10 = write_modules(dir1, 1), write_modules(dir10, 10)
        for fn in load_hook_functions(dir1, names1):
            register_hook("bench_inprocess_1", fn)
        for fn in load_hook_functions(dir10, names10):
            register_hook("bench_inprocess_10", fn)

        pingpong = PingPongClient()
        await pingpong.connect(echo_sock)

        t0 = time.perf_counter()
        async with (
            ModuleRuntime(dir1, state_file=Path(tmp, "state1.json"), config=RuntimeConfig(), sandbox=False) as rt1,
            ModuleRuntime(dir10, state_file=Path(tmp, "state10.json"), config=RuntimeConfig(), sandbox=False) as rt10,
        ):
            startup = time.perf_counter() - t0
            for rt, n in ((rt1, 1), (rt10, 10)):
                states = [s["state"] for s in rt.status()]
                if states != ["running"] * n:
                    raise SystemExit(f"modules not running: {states}")

            check_results("runtime 1", await rt1.run_hooks("profile_menu", **KWARGS), 1)
            check_results("runtime 10", await rt10.run_hooks("profile_menu", **KWARGS), 10)
            check_results("in-process 1", (await call_registered("bench_inprocess_1", KWARGS, DEFAULT_HOOK_TIMEOUT))[0], 1)
            check_results("in-process 10", (await call_registered("bench_inprocess_10", KWARGS, DEFAULT_HOOK_TIMEOUT))[0], 10)

            cases: dict[str, Callable[[], Awaitable[Any]]] = {
                "runtime, 1 module": lambda: rt1.run_hooks("profile_menu", **KWARGS),
                "runtime, 10 modules": lambda: rt10.run_hooks("profile_menu", **KWARGS),
                "in-process, 1 fn": lambda: call_registered("bench_inprocess_1", KWARGS, DEFAULT_HOOK_TIMEOUT),
                "in-process, 10 fns": lambda: call_registered("bench_inprocess_10", KWARGS, DEFAULT_HOOK_TIMEOUT),
                "bare msgpack ping-pong": pingpong.call,
                "host validates the button": _validate_button,
            }
            module_processes = [[psutil.Process(s["pid"]) for s in rt.status()] for rt in (rt1, rt10)]
            involved = {
                "runtime, 1 module": module_processes[0],
                "runtime, 10 modules": module_processes[1],
                "in-process, 1 fn": [],
                "in-process, 10 fns": [],
                "bare msgpack ping-pong": [psutil.Process(echo_pid)],
                "host validates the button": [],
            }
            measure_started = time.perf_counter()
            samples, cpu_per_call, host_cpu_per_call = await measure(cases, involved)
            measure_seconds = time.perf_counter() - measure_started

            check_results("runtime 1 (after)", await rt1.run_hooks("profile_menu", **KWARGS), 1)
            check_results("runtime 10 (after)", await rt10.run_hooks("profile_menu", **KWARGS), 10)
            restarts = sum(s["restarts"] for s in rt1.status() + rt10.status())
        pingpong.close()

    stats = {name: summarize(values, 1e6) for name, values in samples.items()}  # microseconds
    floor = sum(stats[name]["p50"] for name in ("bare msgpack ping-pong", "in-process, 1 fn", "host validates the button"))
    ratios = {
        "runtime_1 / in-process_1 (p50)": stats["runtime, 1 module"]["p50"] / stats["in-process, 1 fn"]["p50"],
        "runtime_10 / in-process_10 (p50)": stats["runtime, 10 modules"]["p50"] / stats["in-process, 10 fns"]["p50"],
        "runtime_1 / bare ping-pong (p50)": stats["runtime, 1 module"]["p50"] / stats["bare msgpack ping-pong"]["p50"],
        "runtime_10 / runtime_1 (p50)": stats["runtime, 10 modules"]["p50"] / stats["runtime, 1 module"]["p50"],
        "runtime_1 / bare ping-pong (CPU per call)": cpu_per_call["runtime, 1 module"] / cpu_per_call["bare msgpack ping-pong"],
        "floor / bare ping-pong (p50)": floor / stats["bare msgpack ping-pong"]["p50"],
        "runtime_1 / floor (p50)": stats["runtime, 1 module"]["p50"] / floor,
    }
    targets = {
        name: {"target_p50_us": target, "p50_us": stats[name]["p50"], "met": stats[name]["p50"] <= target}
        for name, target in TARGETS_US.items()
    }
    return {
        "unit": "microseconds",
        "warmup_calls_per_case": WARMUP,
        "rounds": ROUNDS,
        "calls_per_round": PER_ROUND,
        "runtime_startup_seconds_both": startup,
        "measure_seconds": measure_seconds,
        "module_restarts_during_run": restarts,
        "stats": stats,
        "floor_p50_us": floor,
        "cpu_us_per_call": {name: seconds * 1e6 for name, seconds in cpu_per_call.items()},
        "this_process_cpu_us_per_call": {name: seconds * 1e6 for name, seconds in host_cpu_per_call.items()},
        "ratios": ratios,
        "targets": targets,
        "runtime_log_records_warning_or_worse": log_counter.counts,
        "runtime_log_first_records": log_counter.first,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag", help="write results/bench_hooks.TAG.json (e.g. for a taskset variant)")
    args = parser.parse_args()
    info = machine_info()
    child_pid, echo_sock = fork_echo_child()
    try:
        result = asyncio.run(run(echo_sock, child_pid))
    finally:
        echo_sock.close()
        os.waitpid(child_pid, 0)

    print_header("bench_hooks: run_hooks round trip", info)
    rows = []
    for name, s in result["stats"].items():
        target = TARGETS_US.get(name)
        verdict = "-" if target is None else f"<= {target:g} {'met' if s['p50'] <= target else 'MISSED'}"
        cpu = result["cpu_us_per_call"][name]
        own = result["this_process_cpu_us_per_call"][name]
        rows.append([name, s["n"], s["p50"], s["p90"], s["p99"], s["mean"], cpu, own, verdict])
    print_table(["case (us per call)", "n", "p50", "p90", "p99", "mean", "CPU/call", "host CPU", "target p50"], rows)
    print(f"   floor (ping-pong + the hook in-process + validating its button): {result['floor_p50_us']:.1f} us")
    for name, ratio in result["ratios"].items():
        print(f"   {name:<42} {ratio:.2f}x")
    print(
        f"   module restarts during the run: {result['module_restarts_during_run']}; "
        f"runtime warnings/errors: {result['runtime_log_records_warning_or_worse'] or 'none'}"
    )
    write_results("bench_hooks", {"machine": info, **result}, args.tag)


if __name__ == "__main__":
    sys.exit(main())
