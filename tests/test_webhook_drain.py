"""``TelegramWebhookHandler`` and ``UpdatesInFlight``: what a worker's graceful stop relies on.

Real aiogram Dispatcher behind the handler on a real aiohttp server, fed by the local Bot API's
webhook delivery over HTTP.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.methods import SendMessage
from aiogram.types import Message
from aiohttp import web

from host.telegram_webhook import TelegramWebhookHandler, UpdatesInFlight
from local_bot_api import LocalBotAPI
from tests.conftest import wait_until

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

SECRET = "drain-test-secret"


@dataclass
class Gate:
    """Holds the "slow" handler until released; counts how often it ran to completion."""

    started: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    finished: int = 0


def gated_router(gate: Gate) -> Router:
    router = Router()

    @router.message(F.text == "slow")
    async def slow(message: Message) -> None:
        gate.started.set()
        await gate.release.wait()
        await message.answer("slow done")
        gate.finished += 1

    @router.message(F.text == "boom")
    async def boom(message: Message) -> None:
        raise RuntimeError("a handler's bug")

    @router.message(F.text == "reply in the answer")
    async def in_answer(message: Message) -> SendMessage:
        return message.answer("sent as the webhook answer")  # aiogram writes it into the HTTP answer

    @router.message()
    async def echo(message: Message) -> None:
        await message.answer(f"echo: {message.text}")

    return router


@dataclass
class Worker:
    """One webhook receiver; ``replace`` gives it a fresh handler (a new worker on the same URL)."""

    api: LocalBotAPI
    bot: Bot
    dispatcher: Dispatcher
    handler: TelegramWebhookHandler
    in_flight: UpdatesInFlight

    def replace(self) -> None:
        self.in_flight = UpdatesInFlight()
        self.handler = TelegramWebhookHandler(self.dispatcher, self.bot, secret_token=SECRET, in_flight=self.in_flight)


@asynccontextmanager
async def worker(gate: Gate) -> AsyncIterator[Worker]:
    async with LocalBotAPI(webhook_retry=(0.02, 0.1)) as api:
        bot = Bot(api.token, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url)))
        dispatcher = Dispatcher()
        dispatcher.include_router(gated_router(gate))
        in_flight = UpdatesInFlight()
        current = Worker(
            api, bot, dispatcher, TelegramWebhookHandler(dispatcher, bot, secret_token=SECRET, in_flight=in_flight), in_flight
        )
        app = web.Application()

        async def to_current(request: web.Request) -> web.Response:
            return await current.handler.handle(request)

        app.router.add_post("/hook", to_current)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        try:
            await bot.set_webhook(f"http://127.0.0.1:{runner.addresses[0][1]}/hook", secret_token=SECRET)
            yield current
        finally:
            gate.release.set()
            await current.in_flight.aclose()
            await runner.cleanup()
            await bot.session.close()


async def test_a_drain_refuses_new_updates_and_waits_for_those_in_hand() -> None:
    gate = Gate()
    async with worker(gate) as w:
        first, second = w.api.user(1), w.api.user(2)
        await first.send("slow")
        await gate.started.wait()
        assert w.in_flight.count == 1
        drain = asyncio.ensure_future(w.in_flight.drain(timeout=30))
        await second.send("while draining")
        await wait_until(
            lambda: w.api.world.webhook.get("last_error_message") == "Wrong response from the webhook: 503 Service Unavailable"
        )
        assert not drain.done() and len(w.api.world.updates) == 2  # neither acknowledged yet
        gate.release.set()
        assert await drain == 0
        assert gate.finished == 1 and (await first.wait_for_reply()).text == "slow done"
        await wait_until(lambda: len(w.api.world.updates) == 1)  # the slow one acknowledged; the refused one waits
        w.replace()  # the next worker behind the URL takes the refused update
        assert (await second.wait_for_reply()).text == "echo: while draining"


async def test_updates_past_the_drain_bound_are_cancelled_and_delivered_again() -> None:
    gate = Gate()
    async with worker(gate) as w:
        user = w.api.user(3)
        await user.send("slow")
        await gate.started.wait()
        assert await w.in_flight.drain(timeout=0.05) == 1
        await w.in_flight.aclose()  # cancelled: answered 503, so the update is not acknowledged
        assert gate.finished == 0
        await wait_until(lambda: "503" in (w.api.world.webhook.get("last_error_message") or ""))
        gate.started.clear()
        gate.release.set()
        w.replace()
        assert (await user.wait_for_reply()).text == "slow done"  # delivered again, handled by the next worker
        assert gate.finished == 1


async def test_a_failing_handler_is_answered_and_a_returned_method_is_sent_in_the_answer() -> None:
    async with worker(Gate()) as w:
        user = w.api.user(4)
        await user.send("boom")
        await user.send("after the bug")  # same chat: delivered only once "boom" was acknowledged
        assert (await user.wait_for_reply()).text == "echo: after the bug"
        await user.send("reply in the answer")
        assert (await user.wait_for_reply()).text == "sent as the webhook answer"
        await wait_until(lambda: not w.api.world.updates)
        assert w.in_flight.count == 0


async def test_a_wrong_secret_dispatches_nothing() -> None:
    async with worker(Gate()) as w:
        url = w.api.world.webhook["url"]
        w.api.world.webhook["secret_token"] = "not-the-secret"  # as if the worker had been given another one
        user = w.api.user(5)
        await user.send("hello")
        await wait_until(
            lambda: w.api.world.webhook.get("last_error_message") == "Wrong response from the webhook: 401 Unauthorized"
        )
        assert w.handler.refusals.refused >= 1 and user.chat[-1].from_bot is False
        assert await w.bot.set_webhook(url, secret_token=SECRET)
        assert (await user.wait_for_reply()).text == "echo: hello"
