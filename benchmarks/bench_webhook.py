"""Webhook mode against long polling, one bot process: latency and throughput of updates.

Run from the project root:  PYTHONPATH=/work/main python benchmarks/bench_webhook.py

The local Bot API server and a real aiogram Dispatcher run in this process; the handler answers
every message with one ``sendMessage``. Two ways the updates reach it:

* polling  ``Dispatcher.start_polling`` (long polls of getUpdates, updates handled as tasks);
* webhook  the local Bot API server POSTs each update to ``TelegramWebhookHandler`` (the
           host's, ``host/telegram_webhook``) on an aiohttp server; the answer waits for the
           handler; one chat's updates one at a time, chats concurrently up to max_connections (40).

Per round and mode, on a fresh server and bot: **latency** — one user sends 100 messages, each
after the previous reply (user's send → the bot's reply seen); **throughput** — 40 users send 10
messages each, every user sequentially, the users at once (400 updates, the clock stops at the
last reply). The modes alternate within each round (the order flips every round); 9 rounds.
Both the "Telegram" side (delivering, serving sendMessage) and the bot side share this
process's one event loop: the numbers compare the modes, they are not Telegram's.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from _common import machine_info, print_header, print_table, quiet_runtime_logs, summarize, write_results
from aiogram import Bot, Dispatcher, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message
from aiohttp import web

from host.telegram_webhook import TelegramWebhookHandler, UpdatesInFlight
from local_bot_api import LocalBotAPI, SimulatedUser

ROUNDS, LATENCY_MESSAGES, USERS, PER_USER = 9, 100, 40, 10
SECRET = "bench-secret"
MODES = ("polling", "webhook")


def echo_router() -> Router:
    router = Router()

    @router.message()
    async def echo(message: Message) -> None:
        await message.answer(f"echo {message.text}")

    return router


@asynccontextmanager
async def bot_in(mode: str) -> AsyncIterator[LocalBotAPI]:
    async with LocalBotAPI(token="123456:BENCH") as api:
        bot = Bot(api.token, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url)))
        dispatcher = Dispatcher()
        dispatcher.include_router(echo_router())
        try:
            if mode == "polling":
                polling = asyncio.ensure_future(dispatcher.start_polling(bot, handle_signals=False, polling_timeout=10))
                try:
                    yield api
                finally:
                    await dispatcher.stop_polling()
                    await polling
            else:
                in_flight = UpdatesInFlight()
                app = web.Application()
                TelegramWebhookHandler(dispatcher, bot, secret_token=SECRET, in_flight=in_flight).register(app, path="/hook")
                runner = web.AppRunner(app, access_log=None)
                await runner.setup()
                await web.TCPSite(runner, "127.0.0.1", 0).start()
                await bot.set_webhook(f"http://127.0.0.1:{runner.addresses[0][1]}/hook", secret_token=SECRET)
                try:
                    yield api
                finally:
                    await in_flight.aclose()
                    await runner.cleanup()
        finally:
            await bot.session.close()


async def converse(user: SimulatedUser, count: int, latencies: list[float] | None = None) -> None:
    for i in range(count):
        started = time.perf_counter()
        await user.send(f"m{i}")
        reply = await user.wait_for_reply(timeout=30)
        assert reply.text == f"echo m{i}", reply.text
        if latencies is not None:
            latencies.append(time.perf_counter() - started)


async def one_round(mode: str, latencies: dict[str, list[float]], throughput: dict[str, list[float]], *, record: bool) -> None:
    async with bot_in(mode) as api:
        await converse(api.user(1), 5)  # warm: the first long poll / the first connection
        await converse(api.user(2), LATENCY_MESSAGES, latencies[mode] if record else None)
        users = [api.user(100 + i) for i in range(USERS)]
        started = time.perf_counter()
        await asyncio.gather(*(converse(user, PER_USER) for user in users))
        elapsed = time.perf_counter() - started
        if record:
            throughput[mode].append(USERS * PER_USER / elapsed)


async def main() -> None:
    info = machine_info()
    print_header("bench_webhook", info)
    logs = quiet_runtime_logs()
    latencies: dict[str, list[float]] = {mode: [] for mode in MODES}
    throughput: dict[str, list[float]] = {mode: [] for mode in MODES}
    for mode in MODES:
        await one_round(mode, latencies, throughput, record=False)
    for round_no in range(ROUNDS):
        for mode in MODES if round_no % 2 == 0 else reversed(MODES):
            await one_round(mode, latencies, throughput, record=True)
    results = {
        mode: {
            "latency_ms": summarize(latencies[mode], 1000),
            "updates_per_s_per_round": throughput[mode],
            "updates_per_s_median": statistics.median(throughput[mode]),
        }
        for mode in MODES
    }
    rows = [
        [
            mode,
            results[mode]["latency_ms"]["n"],
            results[mode]["latency_ms"]["p50"],
            results[mode]["latency_ms"]["p90"],
            results[mode]["latency_ms"]["p99"],
            results[mode]["updates_per_s_median"],
            min(throughput[mode]),
            max(throughput[mode]),
        ]
        for mode in MODES
    ]
    print_table(["mode", "n", "latency p50 ms", "p90", "p99", "updates/s (median)", "min", "max"], rows)
    webhook, polling = results["webhook"], results["polling"]
    ratios = {
        "latency_p50_webhook_vs_polling": webhook["latency_ms"]["p50"] / polling["latency_ms"]["p50"],
        "updates_per_s_webhook_vs_polling": webhook["updates_per_s_median"] / polling["updates_per_s_median"],
        # The machine's load moves between rounds: each round's own pair (run back to back) as well.
        "updates_per_s_webhook_vs_polling_median_of_rounds": statistics.median(
            w / p for w, p in zip(throughput["webhook"], throughput["polling"], strict=True)
        ),
    }
    print_table(["ratio", "webhook / polling"], [[k, v] for k, v in ratios.items()])
    print(f"   warnings logged: {logs.counts or 'none'} {logs.first}")
    write_results("bench_webhook", {"machine": info, "results": results, "ratios": ratios, "warnings": logs.counts})


if __name__ == "__main__":
    asyncio.run(main())
