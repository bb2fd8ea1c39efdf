"""Modules' fast-flow payment handlers, callable from the host's pay menu.

``get_fast_flow_handler()`` in a module reports a ``payment_key``; the host's pay menu offers
it and, when the user picks it, calls the module's handler in its process with the callback (or
message), the module's own session and the host's keyword arguments (``state``, ``admin``…).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram.types import TelegramObject

from runtime.calls.caller_session import release_if_read_only
from runtime.calls.hook_arguments import kwargs_to_wire
from runtime.calls.module_call import Answered, ModuleFailed, ProcessGone, ask, log_failure
from runtime.calls.module_hook_calls import update_context
from runtime.module_runtime import ModuleRuntime
from runtime.supervision.supervisor import ModuleSupervisor

log = logging.getLogger("solobot.runtime")

FastFlowHandler = Callable[..., Awaitable[None]]


_tokens = itertools.count(1)  # negative ids: never a Telegram update id


class FastFlowUnavailable(RuntimeError):
    pass


def fast_flow_handlers(runtime: ModuleRuntime) -> dict[str, FastFlowHandler]:
    """payment_key → ``async handler(callback_or_message, session, **kwargs)`` (first module wins a key)."""
    handlers: dict[str, FastFlowHandler] = {}
    for supervisor in runtime.supervisors:
        process = supervisor.running_process
        key = process.manifest.fast_flow_key if process and process.manifest else None
        if key and key not in handlers:
            handlers[key] = _proxy(runtime, supervisor)
    return handlers


def _proxy(runtime: ModuleRuntime, supervisor: ModuleSupervisor) -> FastFlowHandler:
    async def handler(callback_or_message: TelegramObject, session: Any = None, **kwargs: Any) -> None:
        # A token for the event in hand: its message and user are vouched for while the handler runs.
        token = -next(_tokens)
        params = {"event": callback_or_message, "kwargs": kwargs_to_wire(kwargs), "update_id": token}
        gateway = runtime.services.fsm_gateway
        lent = gateway.lend_state_of(kwargs, [supervisor.name]) if gateway is not None else contextlib.nullcontext()
        bot = runtime.services.bot
        context = update_context(callback_or_message, kwargs.get("admin"), bot.id if bot is not None else None)
        # The pay screen's read-only transaction ends first: no pooled connection waits on the module.
        await release_if_read_only({"session": session})
        with lent, runtime.updates_in_flight.track(supervisor.name, token, context):
            outcome = await ask(supervisor, "fast_flow", params, runtime.config.update_timeout)
        if isinstance(outcome, Answered):
            return
        log_failure(supervisor.name, "fast-flow handler", outcome, "the payment flow stopped")
        if isinstance(outcome, ModuleFailed):
            raise FastFlowUnavailable(f"module {supervisor.name}: {outcome.kind}: {outcome.message}")
        if isinstance(outcome, ProcessGone) and not outcome.asked:
            raise FastFlowUnavailable(f"module {supervisor.name} is {supervisor.state}")
        raise FastFlowUnavailable(f"module {supervisor.name} did not complete the payment flow")

    handler.__qualname__ = f"fast_flow[{supervisor.name}]"
    return handler
