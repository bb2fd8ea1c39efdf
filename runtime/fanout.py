"""One hook call fanned out to every subscribed module process at once.

All requests are written first, then awaited together under one deadline: ten modules cost
one timeout, not ten, and no task is created per module. Results come back in module load
order; an error, a timeout or a death is logged with the module, the hook and the child's
traceback, and only that module's result is missing. A module that dies mid-call fails at
once (its channel closes), not after the timeout.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from hooks.results import HookResults
from ipc import CodecError, OutgoingCall, PeerClosed, RemoteError
from ipc.codec import describe_unsupported

from .protocol import HookReply
from .supervisor import ModuleSupervisor

log = logging.getLogger("solobot.hooks")


async def fan_out(hook: str, kwargs: dict[str, Any], supervisors: list[ModuleSupervisor], timeout: float) -> HookResults:
    results = HookResults(hook)
    calls: list[tuple[ModuleSupervisor, Any, OutgoingCall]] = []
    params = {"hook": hook, "kwargs": kwargs}
    started = time.perf_counter()
    try:
        for supervisor in supervisors:
            process = supervisor.serves(hook)
            if process is None:
                continue
            try:
                calls.append((supervisor, process, process.call("call_hook", params)))
            except PeerClosed:
                continue
            except CodecError:
                raise CodecError(f"run_hooks({hook!r}): {describe_unsupported(kwargs, 'argument')}") from None
        if not calls:
            return results
        done, _ = await asyncio.wait([call.future for _, _, call in calls], timeout=timeout)
    except BaseException:
        for _, _, call in calls:
            call.cancel()
        raise
    elapsed = time.perf_counter() - started
    for supervisor, process, call in calls:
        if call.future not in done:
            call.cancel()
            log.error("[HOOK:%s] module %s: no result within %.3g s; call cancelled", hook, supervisor.name, timeout)
            supervisor.hook_timed_out(process, hook)
            continue
        _collect(results, hook, supervisor, call.future, elapsed)
    return results


def _collect(results: HookResults, hook: str, supervisor: ModuleSupervisor, future: asyncio.Future[Any], elapsed: float) -> None:
    name = supervisor.name
    exc = future.exception()
    if isinstance(exc, RemoteError):
        supervisor.hook_failed(elapsed)
        log.error("[HOOK:%s] module %s failed: %s: %s\n%s", hook, name, exc.kind, exc.message, exc.traceback)
        return
    if isinstance(exc, PeerClosed):
        log.error("[HOOK:%s] module %s died during the call: %s", hook, name, exc.reason)
        return
    if exc is not None:
        log.error("[HOOK:%s] module %s: %r", hook, name, exc)
        return
    try:
        reply = HookReply.from_wire(future.result())
    except ValueError as err:
        supervisor.hook_failed(elapsed)
        log.error("[HOOK:%s] module %s sent a malformed reply: %s", hook, name, err)
        return
    for function, kind, message, tb in reply.failures:
        log.error("[HOOK:%s] module %s: %s raised %s: %s\n%s", hook, name, function, kind, message, tb)
    if reply.failures and not reply.results:
        supervisor.hook_failed(elapsed)
    else:
        supervisor.hook_succeeded(elapsed)
    for value in reply.results:
        if value:
            results.add(name, value)
