"""One hook call fanned out to every subscribed module process at once.

All requests are written first, then awaited together under one deadline: ten modules cost
one timeout, not ten, and no task is created per module. Results come back in module load
order; an error, a timeout or a death is logged with the module, the hook and the child's
traceback, and only that module's result is missing. A module that dies mid-call fails at
once (its channel closes), not after the timeout.

Each module's latency is its own (request written → reply in), not the whole fan-out's, so a
slow module does not inflate a fast one's p50. An optional observer (the host's metrics) is told
about every fan-out that called at least one module.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from hooks.results import HookResults
from ipc import CodecError, OutgoingCall, PeerClosed, RemoteError
from ipc.codec import describe_unsupported
from runtime.supervision.supervisor import ModuleSupervisor

from .protocol import HookReply

log = logging.getLogger("solobot.hooks")

# (hook, seconds for the whole fan-out, [(module, its seconds)] of the calls that completed)
FanoutObserver = Callable[[str, float, list[tuple[str, float]]], None]
_observer: FanoutObserver | None = None


def set_observer(observer: FanoutObserver | None) -> FanoutObserver | None:
    """Install the fan-out observer (one per process, like the hook dispatcher); returns the previous one."""
    global _observer
    previous, _observer = _observer, observer
    return previous


async def fan_out(hook: str, kwargs: dict[str, Any], supervisors: list[ModuleSupervisor], timeout: float) -> HookResults:
    results = HookResults(hook)
    calls: list[tuple[ModuleSupervisor, Any, OutgoingCall]] = []
    params = {"hook": hook, "kwargs": kwargs}
    finished: dict[OutgoingCall, float] = {}  # when each reply came in
    started = time.perf_counter()
    try:
        for supervisor in supervisors:
            process = supervisor.serves(hook)
            if process is None:
                continue
            try:
                call = process.call("call_hook", params)
            except PeerClosed:
                continue
            except CodecError:
                raise CodecError(f"run_hooks({hook!r}): {describe_unsupported(kwargs, 'argument')}") from None
            call.future.add_done_callback(partial(_stamp, finished, call))
            calls.append((supervisor, process, call))
        if not calls:
            return results
        done, _ = await asyncio.wait([call.future for _, _, call in calls], timeout=timeout)
    except BaseException:
        for _, _, call in calls:
            call.cancel()
        raise
    elapsed = time.perf_counter() - started
    observed: list[tuple[str, float]] = []
    for supervisor, process, call in calls:
        if call.future not in done:
            call.cancel()
            log.error("[HOOK:%s] module %s: no result within %.3g s; call cancelled", hook, supervisor.name, timeout)
            supervisor.hook_timed_out(process, hook)
            continue
        seconds = finished.get(call, started + elapsed) - started
        if _collect(results, hook, supervisor, call.future, seconds):
            observed.append((supervisor.name, seconds))
    if _observer is not None:
        try:
            _observer(hook, elapsed, observed)
        except Exception:  # metrics must never break a hook call
            log.exception("[HOOK:%s] fan-out observer failed", hook)
    return results


def _stamp(finished: dict[OutgoingCall, float], call: OutgoingCall, _: asyncio.Future[Any]) -> None:
    finished[call] = time.perf_counter()


def _collect(results: HookResults, hook: str, supervisor: ModuleSupervisor, future: asyncio.Future[Any], elapsed: float) -> bool:
    """Add the module's results; True when the call completed (its latency was recorded)."""
    name = supervisor.name
    exc = future.exception()
    if isinstance(exc, RemoteError):
        supervisor.hook_failed(elapsed)
        log.error("[HOOK:%s] module %s failed: %s: %s\n%s", hook, name, exc.kind, exc.message, exc.traceback)
        return True
    if isinstance(exc, PeerClosed):
        log.error("[HOOK:%s] module %s died during the call: %s", hook, name, exc.reason)
        return False
    if exc is not None:
        log.error("[HOOK:%s] module %s: %r", hook, name, exc)
        return False
    try:
        reply = HookReply.from_wire(future.result())
    except ValueError as err:
        supervisor.hook_failed(elapsed)
        log.error("[HOOK:%s] module %s sent a malformed reply: %s", hook, name, err)
        return True
    for function, kind, message, tb in reply.failures:
        log.error("[HOOK:%s] module %s: %s raised %s: %s\n%s", hook, name, function, kind, message, tb)
    if reply.failures and not reply.results:
        supervisor.hook_failed(elapsed)
    else:
        supervisor.hook_succeeded(elapsed)
    for value in reply.results:
        if value:
            results.add(name, value)
    return True
