"""The host's router for module routers: consulted before the core's, as upstream orders them.

For an update of any type, the filter asks each running module's ``RouteIndex`` whether the
module may handle it (no IPC: a core-handled update costs no round trip to modules that cannot
match). The handler then feeds the update to those modules, in load order, until one says it
handled it; if none does, ``SkipHandler`` lets the core's routers try, exactly as an unmatched
module router does upstream.

When a module fails while handling an update (its handler raised, it timed out, its process
died), the user is not left with silence: the host answers on the module's behalf and the
failure is logged with the module's name and traceback.

A module handles at most ``max_updates_in_flight`` updates at once (``modules.toml``): one
that hangs collects no backlog beyond that, and its excess updates are answered "unavailable" at
once (``BacklogRefusals`` logs them, one line per module and interval).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from aiogram import Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.exceptions import TelegramAPIError
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message, TelegramObject, Update

from runtime.calls.module_call import Answered, ProcessGone, ask, log_failure
from runtime.calls.module_hook_calls import update_context
from runtime.child.route_filters import describe_router
from runtime.module_runtime import ModuleRuntime
from runtime.supervision.supervisor import ModuleSupervisor

from . import user_texts
from .callback_ownership import CallbackClaims, owner_of
from .fsm_keys import key_to_wire
from .route_index import RouteIndex

log = logging.getLogger("solobot.runtime")

SKIPPED_OBSERVERS = {"update", "error"}
MAX_DISPUTES_LOGGED = 1_000
# Callback data of the host's own operator screens (the modules panel): never offered to a
# module, so a module cannot stand in for the screen that stops or reloads it.
RESERVED_CALLBACK_PREFIXES = ("admin_mod:",)


REFUSALS_LOG_INTERVAL = 10.0  # seconds: at most one line per module about updates over its cap


class BacklogRefusals:
    """Updates refused because a module is handling its maximum: logged once per module and interval."""

    def __init__(self, interval: float = REFUSALS_LOG_INTERVAL) -> None:
        self.interval = interval
        self._since: dict[str, tuple[float, int]] = {}  # module → (last line's time, refusals since)

    def refused(self, module: str, limit: int) -> None:
        now = time.monotonic()
        last, count = self._since.get(module, (float("-inf"), 0))
        count += 1
        if now - last < self.interval:
            self._since[module] = (last, count)
            return
        self._since[module] = (now, 0)
        log.warning(
            "[module %s] %d update(s) answered 'unavailable': it is already handling %d (max_updates_in_flight in modules.toml)",
            module,
            count,
            limit,
        )


class UpdateForwarder:
    def __init__(self, runtime: ModuleRuntime, core_claims: CallbackClaims | None = None) -> None:
        self.runtime = runtime
        self.core_claims = core_claims or CallbackClaims()  # callback data of the core's own screens
        self._disputes: set[str] = set()  # disputed callback data already logged
        self.refusals = BacklogRefusals()

    async def candidates(
        self,
        event: TelegramObject,
        event_update: Update,
        raw_state: str | None = None,
        state: FSMContext | None = None,
    ) -> bool | dict[str, Any]:
        """aiogram filter: the modules that may handle this event, or ``False`` for none.

        ``raw_state`` is the core's state; a module's handlers that wait for a state are matched
        against the module's own (``FSMGateway.module_state``), read only for those modules.
        """
        event_type = event_update.event_type
        if event_type == "callback_query" and (getattr(event, "data", None) or "").startswith(RESERVED_CALLBACK_PREFIXES):
            return False
        gateway = self.runtime.services.fsm_gateway
        found = []
        for sup in self.runtime.supervisors:
            process = sup.running_process
            if process is None or not process.routes.handles(event_type):
                continue
            own = None
            if state is not None and gateway is not None and process.routes.uses_state(event_type):
                own = await gateway.module_state(sup.name, state.key)
            if process.routes.may_match(event_type, event, own, raw_state):
                found.append(sup)
        if found and event_type == "callback_query":
            found = self._owners(getattr(event, "data", None) or "", found)
        return {"module_candidates": found} if found else False

    def _owners(self, data: str, found: list[ModuleSupervisor]) -> list[ModuleSupervisor]:
        """Sandboxed modules get only callback data they own (``callback_ownership``); trusted ones as upstream."""
        kept: list[ModuleSupervisor] = []
        claimants: list[str] = []
        for sup in found:
            routing = self.runtime.routing_of(sup.name)
            if routing is None:
                kept.append(sup)
            elif routing.may_receive(data, self.core_claims):
                claimants.append(sup.name)
        owner = owner_of(data, claimants)
        if len(claimants) > 1 and data not in self._disputes and len(self._disputes) < MAX_DISPUTES_LOGGED:
            self._disputes.add(data)
            log.error(
                "[modules] callback data %r is claimed by modules %s: %s",
                data[:64],
                ", ".join(claimants),
                f"only {owner} (its name prefix) gets it" if owner else "none of them gets it",
            )
        return [sup for sup in found if sup in kept or sup.name == owner]

    async def forward(
        self,
        event: TelegramObject,
        event_update: Update,
        module_candidates: list[ModuleSupervisor],
        admin: bool | None = None,
        state: FSMContext | None = None,
    ) -> None:
        timeout = self.runtime.config.update_timeout
        gateway = self.runtime.services.fsm_gateway
        key = key_to_wire(state.key) if state is not None and gateway is not None else None
        bot = self.runtime.services.bot
        context = update_context(event, admin, bot.id if bot is not None else None)
        in_flight = self.runtime.updates_in_flight
        for supervisor in module_candidates:
            limit = self.runtime.max_updates_in_flight(supervisor.name)
            if in_flight.count(supervisor.name) >= limit:
                self.refusals.refused(supervisor.name, limit)
                await _tell_user_unavailable(event)
                return
            # The update crosses like every Telegram object (telegram_codec): rebuilt once, bound to
            # the module's bot. With it goes the module's own FSM state for this user (its namespace
            # in the host's storage, a local read): aiogram's FSM middleware in the module asks for
            # it on every update, and this saves that round trip.
            params: dict[str, Any] = {"update": event_update, "admin": admin if isinstance(admin, bool) else None}
            if key is not None and state is not None and gateway is not None:
                params["fsm"] = [key, await gateway.module_state(supervisor.name, state.key)]
            # What the host vouches for while the module handles it (its run_hooks calls).
            with in_flight.track(supervisor.name, event_update.update_id, context):
                outcome = await ask(supervisor, "feed_update", params, timeout)
            if isinstance(outcome, Answered):
                if isinstance(outcome.value, dict) and outcome.value.get("handled") is True:
                    return
                continue
            if isinstance(outcome, ProcessGone) and not outcome.asked:
                continue  # stopped between the filter and here: as if it had not matched
            log_failure(supervisor.name, f"update {event_update.update_id}", outcome, "told the user it is unavailable")
            await _tell_user_unavailable(event)
            return
        raise SkipHandler


async def _tell_user_unavailable(event: TelegramObject) -> None:
    try:
        if isinstance(event, CallbackQuery):
            await event.answer(user_texts.MODULE_UNAVAILABLE, show_alert=True)
        elif isinstance(event, Message):
            await event.answer(user_texts.MODULE_UNAVAILABLE)
    except TelegramAPIError as exc:  # e.g. the module answered the callback before it failed
        log.info("could not tell the user a module failed: %s", exc)


def modules_router(runtime: ModuleRuntime, core_routers: Iterable[Router] = ()) -> Router:
    """A router to include before the core's routers: it forwards updates to module processes.

    ``core_routers``: the core's, whose callback data a sandboxed module gets only when the
    operator grants it (``override``).
    """
    router = Router(name="modules")
    forwarder = UpdateForwarder(runtime, core_callback_claims(core_routers))
    for name, observer in router.observers.items():
        if name not in SKIPPED_OBSERVERS:
            observer.register(forwarder.forward, forwarder.candidates)
    return router


def core_callback_claims(routers: Iterable[Router]) -> CallbackClaims:
    """The callback data the core's screens name (read like a module's router; catch-alls claim nothing)."""
    exact: set[str] = set()
    prefixes: list[str] = []
    for router in routers:
        claims = RouteIndex.from_wire(describe_router(router)).callback_claims()
        exact |= claims.exact
        prefixes.extend(claims.prefixes)
    return CallbackClaims(frozenset(exact), tuple(dict.fromkeys(prefixes)))
