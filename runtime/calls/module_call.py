"""Asking one module process something: one request, one typed outcome.

Every place the host asks a module process to do something — a hook call (``fanout``), an
update (``aiogram_bridge.update_forwarding``), a webhook request, a fast-flow handler — ends in
one of four outcomes, and each caller decides what its outcome means to *its* user (a missing
hook result, a "module unavailable" message, HTTP 503/504/500, a payment flow that stops):

* ``Answered``: the module replied (the reply itself is still untrusted: validate it);
* ``ModuleFailed``: the module's code raised; its traceback came with the answer;
* ``ProcessGone``: the module is not running, or its process died before answering;
* ``TimedOut``: no answer within the deadline; the request was cancelled on both sides.

``log_failure`` writes the one log line for the three failures, always naming the module.

A ``ModuleCall`` is written at once and awaited later, so a fan-out can write every request
before awaiting any (one deadline for all, no task per module); ``ask`` is the one-call form.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any, NamedTuple

from ipc import OutgoingCall, PeerClosed, RemoteError

if TYPE_CHECKING:
    from runtime.supervision.process import ModuleProcess
    from runtime.supervision.supervisor import ModuleSupervisor

log = logging.getLogger("solobot.runtime")


# NamedTuples: immutable like frozen dataclasses, and several times cheaper to build (one per call).


class Answered(NamedTuple):
    value: Any
    seconds: float  # request written → reply in


class ModuleFailed(NamedTuple):
    kind: str
    message: str
    traceback: str
    seconds: float


class ProcessGone(NamedTuple):
    reason: str
    asked: bool = True  # False: the module was not running, so nothing was asked of it


class TimedOut(NamedTuple):
    timeout: float


Outcome = Answered | ModuleFailed | ProcessGone | TimedOut


class ModuleCall:
    """One request written to one module process; ``outcome()`` once its future is done or the deadline passed."""

    __slots__ = ("_call", "_expired", "module", "process")

    def __init__(self, module: str, process: ModuleProcess, call: OutgoingCall) -> None:
        self.module = module
        self.process = process
        self._call = call
        self._expired = False

    @classmethod
    def send(cls, supervisor: ModuleSupervisor, method: str, params: Any) -> ModuleCall | ProcessGone:
        """Write the request now. ``ipc.CodecError`` (the host's own arguments cannot cross) propagates."""
        process = supervisor.running_process
        if process is None:
            return ProcessGone(f"the module is {supervisor.state}", asked=False)
        return cls.to_process(supervisor.name, process, method, params)

    @classmethod
    def to_process(cls, module: str, process: ModuleProcess, method: str, params: Any) -> ModuleCall | ProcessGone:
        try:
            return cls(module, process, process.call(method, params))
        except PeerClosed as exc:
            return ProcessGone(exc.reason, asked=False)

    @property
    def future(self) -> asyncio.Future[Any]:
        return self._call.future

    def cancel(self) -> None:
        self._call.cancel()

    def outcome(self, timeout: float) -> Outcome:
        """What came of the call; a call still pending is cancelled (on both sides) and ``TimedOut``."""
        call = self._call
        future = call.future
        if self._expired or not future.done():
            call.cancel()
            return TimedOut(timeout)
        seconds = (call.answered_at or time.perf_counter()) - call.sent_at
        if future.cancelled():
            return ProcessGone("the call was cancelled")
        exc = future.exception()
        if exc is None:
            return Answered(future.result(), seconds)
        if isinstance(exc, RemoteError):
            return ModuleFailed(exc.kind, exc.message, exc.traceback, seconds)
        if isinstance(exc, PeerClosed):
            return ProcessGone(exc.reason)
        return ProcessGone(f"{type(exc).__name__}: {exc}")

    async def wait(self, timeout: float) -> Outcome:
        """Await the reply itself, under a deadline of its own.

        Not ``asyncio.wait`` (one event-loop turn more per call) nor ``asyncio.timeout`` (it
        builds a context manager and reschedules on the task): one ``call_later`` that cancels
        the request, told apart from the caller's own cancellation by ``_expired``.
        """
        future = self._call.future
        if not future.done():
            deadline = future.get_loop().call_later(timeout, self._expire)  # not get_running_loop(): a getpid() each
            try:
                await future
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if not self._expired or (task is not None and task.cancelling()):
                    self._call.cancel()  # the caller was cancelled: so is the request
                    raise
            except Exception:  # the module's error or its death: outcome() names it
                pass
            finally:
                deadline.cancel()
        return self.outcome(timeout)

    def _expire(self) -> None:
        if not self._call.future.done():
            self._expired = True
            self._call.cancel()  # tell the module to stop working on it; wait() returns TimedOut


async def ask(supervisor: ModuleSupervisor, method: str, params: Any, timeout: float) -> Outcome:
    """Ask the module's running process ``method(params)`` and wait up to ``timeout`` seconds."""
    sent = ModuleCall.send(supervisor, method, params)
    if isinstance(sent, ProcessGone):
        return sent
    return await sent.wait(timeout)


def log_failure(module: str, what: str, outcome: Outcome, consequence: str = "") -> None:
    """The one log line for a failed call: ``[module NAME] WHAT ...; CONSEQUENCE`` (nothing for ``Answered``)."""
    tail = f"; {consequence}" if consequence else ""
    if isinstance(outcome, ModuleFailed):
        log.error("[module %s] %s failed: %s: %s%s\n%s", module, what, outcome.kind, outcome.message, tail, outcome.traceback)
    elif isinstance(outcome, ProcessGone):
        log.error("[module %s] %s: the module process is gone (%s)%s", module, what, outcome.reason, tail)
    elif isinstance(outcome, TimedOut):
        log.error("[module %s] %s: no result within %.3g s; call cancelled%s", module, what, outcome.timeout, tail)
