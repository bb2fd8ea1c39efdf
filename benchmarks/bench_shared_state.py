"""What sharing state through Redis (REDIS_URL, several workers) adds per Bot API call and per update.

Run from the project root:  PYTHONPATH=/work/main python benchmarks/bench_shared_state.py

One redis-server (Debian's, started here: no persistence, on a unix socket and on TCP
127.0.0.1), the local Bot API server, everything else in this process. Three backends per case:
``memory`` (no REDIS_URL: one worker), ``redis-unix`` and ``redis-tcp`` (REDIS_URL over a unix
socket / over TCP on this machine; a Redis on another machine adds the network's round trip).

* rate check     ``BotApiPolicy.check`` of a module's call: the allowlist and the module's token
                 bucket (memory: a dict; Redis: one Lua script, one round trip);
* bot api call   ``BotGateway.call`` of ``getMe`` against the local Bot API server: policy, scope,
                 aiogram's HTTP request, answer (what a module's Bot API call costs in the host);
* update         ``Dispatcher.feed_update`` of a private message through the core's throttling
                 middleware, the maintenance switch and aiogram's FSM middleware (which reads the
                 user's state) to a handler that does nothing: what the shared state costs every
                 update (throttling: one ``SET NX PX``; maintenance: one ``GET`` a second at most;
                 FSM: one ``GET``); each update from another user (never throttled). The backend
                 ``redis-unix-flag-each-update`` reads the maintenance switch on every update, as
                 before ``RedisFlag.fresh_for``: the update case's difference is what that saves.

Cases are interleaved per round (the order rotates); 20 rounds x 200 calls per case.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from _common import machine_info, print_header, print_table, quiet_runtime_logs, summarize, write_results
from aiogram import Bot, Dispatcher, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.fsm.context import FSMContext
from aiogram.types import Message, Update

from host.shared_state import SharedState, make_shared_state
from local_bot_api import LocalBotAPI
from middlewares.maintenance import MaintenanceMiddleware
from middlewares.throttling import ThrottlingMiddleware
from runtime.aiogram_bridge.bot_gateway import BotGateway
from sandbox.bot_api_policy import BotApiPolicy
from shared_state.flag import LocalFlag, RedisFlag
from tests.redis_fixtures import RedisServer

ROUNDS, CALLS, WARM_UP = 20, 200, 300
RATE = 1e9  # calls/s: the bucket is always consulted, never empty
TCP_PORT = 16379

users = itertools.count(10_000)


def message_update(user: int) -> Update:
    chat = {"id": user, "type": "private"}
    message = {"message_id": 1, "date": 0, "chat": chat, "from": {"id": user, "is_bot": False, "first_name": "U"}, "text": "hi"}
    return Update.model_validate({"update_id": user, "message": message})


def dispatcher(shared: SharedState) -> Dispatcher:
    dp = Dispatcher(storage=shared.fsm_storage)
    dp.update.outer_middleware(ThrottlingMiddleware(0.5, "slow down", shared.user_gate))
    dp.update.outer_middleware(MaintenanceMiddleware(shared.maintenance or LocalFlag(), "maintenance"))
    router = Router()

    @router.message()
    async def handle(message: Message, state: FSMContext) -> None:
        return None

    dp.include_router(router)
    return dp


async def timed(call: Callable[[], Awaitable[Any]], calls: int) -> list[float]:
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
    return samples


async def main() -> None:
    info = machine_info()
    print_header("bench_shared_state", info)
    quiet = quiet_runtime_logs()
    logging.getLogger("aiogram").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="bench-redis-") as folder, RedisServer(Path(folder), tcp_port=TCP_PORT) as server:
        async with LocalBotAPI() as api:
            bot = Bot(api.token, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url)))
            backends = {
                "memory": make_shared_state(None, bot.id),
                "redis-unix": make_shared_state(server.url(1), bot.id),
                "redis-tcp": make_shared_state(server.tcp_url(2), bot.id),
                "redis-unix-flag-each-update": make_shared_state(server.url(3), bot.id),
            }
            uncached = backends["redis-unix-flag-each-update"]
            uncached.maintenance = RedisFlag(uncached.redis, f"solobot:{bot.id}:maintenance", "maintenance mode", fresh_for=0)
            cases: dict[str, Callable[[], Awaitable[Any]]] = {}
            for name, shared in backends.items():
                policy = BotApiPolicy(rates={"m": RATE}, buckets=shared.bot_api_buckets)
                gateway = BotGateway(bot, policy)
                dp = dispatcher(shared)

                async def check(policy: BotApiPolicy = policy) -> None:
                    assert await policy.check("m", "getMe") is None

                async def api_call(gateway: BotGateway = gateway) -> None:
                    assert "result" in await gateway.call("m", {"method": "getMe", "params": {}})

                async def update(dp: Dispatcher = dp) -> None:
                    await dp.feed_update(bot, message_update(next(users)))

                cases[f"rate check, {name}"] = check
                cases[f"bot api call, {name}"] = api_call
                cases[f"update, {name}"] = update
            for call in cases.values():
                await timed(call, WARM_UP)
            samples: dict[str, list[float]] = {name: [] for name in cases}
            names = list(cases)
            for round_index in range(ROUNDS):
                shift = round_index % len(names)
                for name in names[shift:] + names[:shift]:
                    samples[name] += await timed(cases[name], CALLS)
            for shared in backends.values():
                await shared.fsm_storage.close()
            await bot.session.close()
    results = {name: summarize(values, 1000) for name, values in samples.items()}
    rows = [[name, r["n"], r["p50"], r["p90"], r["p99"], r["min"], r["max"]] for name, r in results.items()]
    print_table(["case (ms)", "n", "p50", "p90", "p99", "min", "max"], rows)
    added = {}
    for case in ("rate check", "bot api call", "update"):
        base = results[f"{case}, memory"]["p50"]
        for backend in ("redis-unix", "redis-tcp", "redis-unix-flag-each-update"):
            median = results[f"{case}, {backend}"]["p50"]
            added[f"{case}, {backend}"] = {"added_ms": median - base, "ratio": median / base}
    print_table(["median vs memory", "added ms", "ratio"], [[k, v["added_ms"], v["ratio"]] for k, v in added.items()])
    info["warnings_logged"] = quiet.counts
    write_results("bench_shared_state", {"machine": info, "results": results, "added_vs_memory": added})


if __name__ == "__main__":
    asyncio.run(main())
