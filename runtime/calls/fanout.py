"""One hook call fanned out to every subscribed module process at once.

The parameters are encoded once, then all requests are written, then awaited together under
one deadline: ten modules cost one encoding and one timeout, not ten, and no task is created per
module. Results come back in module load order; a failure (``module_call``'s outcomes) is logged
with the module and the hook, and only that module's result is missing. A module that dies
mid-call fails at once (its channel closes), not after the timeout.

Each module's latency is its own (request written → reply in), not the whole fan-out's, so a
slow module does not inflate a fast one's p50. The runtime's observer (the host's metrics,
passed to ``ModuleRuntime``) is told about every fan-out that called at least one module.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from hooks.results import HookResults
from ipc import CodecError, Encoded
from runtime.aiogram_bridge.telegram_codec import HOST_CODEC
from runtime.supervision.supervisor import ModuleSupervisor

from .hook_reply import HookReply
from .module_call import Answered, ModuleCall, ModuleFailed, Outcome, TimedOut, log_failure

if TYPE_CHECKING:
    from runtime.supervision.process import ModuleProcess

log = logging.getLogger("solobot.hooks")

# (hook, seconds for the whole fan-out, [(module, its seconds)] of the calls that completed)
FanoutObserver = Callable[[str, float, list[tuple[str, float]]], None]


Subscriber = tuple[ModuleSupervisor, "ModuleProcess"]  # a running module subscribed to the hook, and its process


def subscribers_of(hook: str, supervisors: Iterable[ModuleSupervisor]) -> list[Subscriber]:
    """The running modules subscribed to ``hook``, in load order, with the process to call."""
    found = []
    for supervisor in supervisors:
        process = supervisor.serves(hook)
        if process is not None:
            found.append((supervisor, process))
    return found


async def fan_out(
    hook: str,
    kwargs: dict[str, Any],
    subscribers: list[Subscriber],
    timeout: float,
    observer: FanoutObserver | None = None,
) -> HookResults:
    results = HookResults(hook)
    if not subscribers:
        return results
    calls: list[tuple[ModuleSupervisor, ModuleCall]] = []
    try:  # encoded once for every module (every channel of the host speaks HOST_CODEC)
        params = Encoded(HOST_CODEC.encode({"hook": hook, "kwargs": kwargs}))
    except CodecError:
        raise CodecError(f"run_hooks({hook!r}): {HOST_CODEC.describe_unsupported(kwargs, 'argument')}") from None
    started = time.perf_counter()
    try:
        for supervisor, process in subscribers:
            sent = ModuleCall.to_process(supervisor.name, process, "call_hook", params)
            if isinstance(sent, ModuleCall):
                calls.append((supervisor, sent))
        if not calls:
            return results
        if len(calls) == 1:
            single: Outcome | None = await calls[0][1].wait(timeout)
        else:
            single = None
            await asyncio.wait([call.future for _, call in calls], timeout=timeout)
    except BaseException:
        for _, call in calls:
            call.cancel()
        raise
    elapsed = time.perf_counter() - started
    observed: list[tuple[str, float]] = []
    for supervisor, call in calls:
        outcome = single if single is not None else call.outcome(timeout)
        if isinstance(outcome, Answered):
            if _collect(results, hook, supervisor, outcome):
                observed.append((supervisor.name, outcome.seconds))
            continue
        log_failure(supervisor.name, f"hook {hook}", outcome)
        if isinstance(outcome, ModuleFailed):
            supervisor.hook_failed(outcome.seconds)
            observed.append((supervisor.name, outcome.seconds))
        elif isinstance(outcome, TimedOut):
            supervisor.hook_timed_out(call.process, hook)
    if observer is not None:
        try:
            observer(hook, elapsed, observed)
        except Exception:  # metrics must never break a hook call
            log.exception("[HOOK:%s] fan-out observer failed", hook)
    return results


def _collect(results: HookResults, hook: str, supervisor: ModuleSupervisor, answer: Answered) -> bool:
    """Add the module's results; True when the reply was well-formed (its latency counts)."""
    name = supervisor.name
    try:
        reply = HookReply.from_wire(answer.value)
    except ValueError as err:
        supervisor.hook_failed(answer.seconds)
        log.error("[module %s] hook %s: malformed reply: %s", name, hook, err)
        return True
    for function, kind, message, tb in reply.failures:
        log.error("[module %s] hook %s: %s raised %s: %s\n%s", name, hook, function, kind, message, tb)
    if reply.more_failures:
        log.error("[module %s] hook %s: %d more failure report(s) not shown", name, hook, reply.more_failures)
    if (reply.failures or reply.more_failures) and not reply.results:
        supervisor.hook_failed(answer.seconds)
    else:
        supervisor.hook_succeeded(answer.seconds)
    for value in reply.results:
        if value:
            results.add(name, value)
    return True
