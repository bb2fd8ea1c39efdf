"""What the host's isolation checks (issue 10) add to the update, hook and Bot API paths.

Run from the project root:  PYTHONPATH=$PWD python benchmarks/bench_isolation_checks.py

Each row times one step the host now takes, side by side with the same work without the check,
in one process, interleaved round by round (so machine noise hits both columns alike):

* decode of a forwarded update's frame (a callback query, ~1.3 KB): ``ipc.codec.decode`` with
  its object budget and length bounds vs the same msgpack unpacking without them;
* per forwarded update, in the host (new work, nothing to compare with): the update's context
  (user, chat, message: what the host vouches for) tracked while the module handles it; the
  callback's owner among the candidate modules (usually 1; 20 when 20 modules have catch-all
  callback handlers); the module's own FSM state read (memory storage);
* a module's ``run_hooks``: the hook check and the vouched arguments;
* a module's Bot API call: the scope check of ``sendMessage`` to a known user and of
  ``editMessageText`` of a message it sent.

Median and p90 in microseconds over ROUNDS rounds of BATCH calls each (per-call time = batch
time / BATCH).
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable
from typing import Any

import msgpack
from _common import machine_info, print_header, print_table, summarize, write_results
from aiogram.fsm.storage.base import StorageKey
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.types import CallbackQuery, Chat, Message, User

from ipc import codec
from runtime.aiogram_bridge.callback_ownership import CallbackClaims, ModuleRouting, module_claims, owner_of
from runtime.aiogram_bridge.fsm_gateway import FSMGateway
from runtime.calls.module_hook_calls import (
    UpdatesInFlight,
    check_hook_allowed,
    update_context,
    vouched_kwargs,
)
from sandbox.bot_api_scope import SentMessages, refusal

ROUNDS = 200
BATCH = 200
MODULES = 20


def callback() -> CallbackQuery:
    user = User(id=5001, is_bot=False, first_name="Ivan", username="ivan", language_code="ru")
    message = Message(message_id=77, date=1_700_000_000, chat=Chat(id=5001, type="private"), text="Профиль", from_user=user)
    return CallbackQuery(id="4242", from_user=user, chat_instance="-1", message=message, data="m019|open")


def plain_unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False, strict_map_key=False, use_list=True, object_pairs_hook=dict)


async def measure(name: str, step: Callable[[], Any]) -> float:
    started = time.perf_counter()
    for _ in range(BATCH):
        result = step()
        if asyncio.iscoroutine(result):
            await result
    return (time.perf_counter() - started) / BATCH


async def main() -> None:
    info = machine_info()
    info["command"] = "PYTHONPATH=$PWD python benchmarks/bench_isolation_checks.py"
    print_header("host isolation checks (issue 10)", info)

    event = callback()
    frame = codec.encode(["req", 1, "feed_update", {"update": event.model_dump(mode="json", exclude_none=True), "admin": False}])
    in_flight = UpdatesInFlight()
    routings = [
        ModuleRouting(f"m{i:03d}", module_claims(f"m{i:03d}", CallbackClaims(frozenset({f"m{i:03d}|open"}), (f"m{i:03d}|",))))
        for i in range(MODULES)
    ]
    core = CallbackClaims(frozenset({"profile", "about_vpn", "start"}), ("pay_",))
    storage = MemoryStorage()
    gateway = FSMGateway(storage, 42)
    key = StorageKey(42, 5001, 5001)
    await gateway.call("m019", {"op": "set_state", "key": [42, 5001, 5001, None, None, "default"], "value": "Form:name"})
    sent = SentMessages()
    sent.add((5001, 900))

    async def known_user(chat_id: int) -> bool:
        return chat_id == 5001

    def vouched_context() -> None:
        context = update_context(event, False, 42)
        with in_flight.track("m019", 1, context):
            pass

    def owner(candidates: list[ModuleRouting]) -> Callable[[], Any]:
        def step() -> Any:
            claimants = [r.name for r in candidates if r.may_receive(event.data or "", core)]
            return owner_of(event.data or "", claimants)

        return step

    def hook_call() -> Any:
        check_hook_allowed("m019", "profile_menu", ())
        return vouched_kwargs("m019", "profile_menu", {"chat_id": 5001, "admin": True, "session": codec.Ref("session")}, None)

    handled = update_context(event, False, 42)
    assert event.message is not None
    decoded = type(event.message).model_validate(event.message.model_dump())  # an equal copy, as decoded from a module

    def hook_call_with_message() -> Any:
        """A module passing the update's message on (upstream does: ``message=callback.message``)."""
        check_hook_allowed("m019", "profile_menu", ())
        return vouched_kwargs("m019", "profile_menu", {"chat_id": 5001, "message": decoded, "admin": False}, handled)

    def scope(method: str, params: dict[str, Any]) -> Callable[[], Any]:
        return lambda: refusal(
            "m019",
            method,
            params,
            sent=sent,
            update_chat=5001,
            update_messages=[(5001, 77)],
            update_inline_message=None,
            granted_chats=(),
            is_user=known_user,
        )

    cases: list[tuple[str, Callable[[], Any] | None, Callable[[], Any]]] = [
        ("decode of an update frame", lambda: plain_unpack(frame), lambda: codec.decode(frame)),
        ("update: its context tracked (user, chat, message)", None, vouched_context),
        ("update: callback owner, 1 candidate", None, owner(routings[-1:])),
        ("update: callback owner, 20 candidates (20 catch-alls)", None, owner(routings)),
        ("update: the module's own FSM state (memory storage)", None, lambda: gateway.module_state("m019", key)),
        ("module run_hooks: hook check + vouched arguments", None, hook_call),
        ("module run_hooks: ... with the update's message passed on", None, hook_call_with_message),
        ("Bot API scope: sendMessage to a user", None, scope("sendMessage", {"chat_id": 5001, "text": "hi"})),
        ("Bot API scope: editMessageText of its own", None, scope("editMessageText", {"chat_id": 5001, "message_id": 900})),
    ]
    samples: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name, _, _ in cases}
    gc.disable()
    for _ in range(ROUNDS):
        for name, without, with_check in cases:
            if without is not None:
                samples[name][0].append(await measure(name, without))
            samples[name][1].append(await measure(name, with_check))
    gc.enable()

    rows = []
    results: dict[str, Any] = {"machine": info, "rounds": ROUNDS, "batch": BATCH, "cases": {}}
    for name, (without, with_check) in samples.items():
        after = summarize(with_check, 1e6)
        before = summarize(without, 1e6) if without else None
        added = after["p50"] - (before["p50"] if before else 0.0)
        rows.append(
            [
                name,
                before["p50"] if before else "-",
                after["p50"],
                after["p90"],
                added,
                f"{after['p50'] / before['p50']:.2f}" if before else "-",
            ]
        )
        results["cases"][name] = {"without_us": before, "with_us": after, "added_p50_us": added}
    print_table(["step", "without p50 µs", "with p50 µs", "with p90 µs", "added p50 µs", "ratio"], rows)
    write_results("bench_isolation_checks", results)


if __name__ == "__main__":
    asyncio.run(main())
