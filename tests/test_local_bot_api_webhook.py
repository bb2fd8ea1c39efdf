"""The local Bot API server posts updates to a webhook as Telegram does (``local_bot_api.webhook_delivery``).

A real aiohttp receiver on 127.0.0.1 stands for the bot's web server; a real aiogram ``Bot`` sets
the webhook over HTTP.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest, TelegramConflictError
from aiohttp import web

from local_bot_api import LocalBotAPI

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

Answer = Callable[[web.Request, dict[str, Any]], Awaitable[web.Response]]


class Receiver:
    """A webhook endpoint recording what it was posted; ``answer`` decides each response."""

    def __init__(self) -> None:
        self.posts: list[tuple[dict[str, Any], str | None]] = []
        self.answer: Answer = self._ok
        self.url = ""

    @staticmethod
    async def _ok(request: web.Request, update: dict[str, Any]) -> web.Response:
        return web.json_response({})

    async def handle(self, request: web.Request) -> web.Response:
        update = await request.json()
        self.posts.append((update, request.headers.get("X-Telegram-Bot-Api-Secret-Token")))
        return await self.answer(request, update)

    def texts(self) -> list[str]:
        return [update["message"]["text"] for update, _ in self.posts if "message" in update]


@asynccontextmanager
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    rec.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        yield rec
    finally:
        await runner.cleanup()


@asynccontextmanager
async def api_and_bot() -> AsyncIterator[tuple[LocalBotAPI, Bot]]:
    async with LocalBotAPI(webhook_retry=(0.02, 0.1)) as api:
        bot = Bot(api.token, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url)))
        try:
            yield api, bot
        finally:
            await bot.session.close()


async def until(condition: Callable[[], Any], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def test_updates_are_posted_with_the_secret_and_acknowledged() -> None:
    async with api_and_bot() as (api, bot), receiver() as rec:
        user = api.user(10)
        await user.send("before the webhook")  # pending updates are kept and delivered
        assert await bot.set_webhook(rec.url, secret_token="s3cret_-X", allowed_updates=["message"])
        await user.send("after")
        await until(lambda: len(rec.posts) == 2)
        assert rec.texts() == ["before the webhook", "after"]
        assert {secret for _, secret in rec.posts} == {"s3cret_-X"}
        await until(lambda: not api.world.updates)
        info = await bot.get_webhook_info()
        assert (info.url, info.pending_update_count, info.allowed_updates, info.max_connections) == (rec.url, 0, ["message"], 40)
        assert info.last_error_date is None


async def test_get_updates_conflicts_while_a_webhook_is_set_and_delete_webhook_ends_it() -> None:
    async with api_and_bot() as (api, bot), receiver() as rec:
        await bot.set_webhook(rec.url)
        with pytest.raises(TelegramConflictError, match="can't use getUpdates method while webhook is active"):
            await bot.get_updates()
        assert await bot.delete_webhook()
        await api.user(11).send("polled")
        assert [u.message.text for u in await bot.get_updates()] == ["polled"]
        assert rec.posts == []


async def test_a_failed_delivery_is_retried_in_order_and_reported() -> None:
    async with api_and_bot() as (api, bot), receiver() as rec:
        failures = 3

        async def flaky(request: web.Request, update: dict[str, Any]) -> web.Response:
            nonlocal failures
            if failures:
                failures -= 1
                return web.Response(status=502, reason="Bad Gateway")
            return web.json_response({})

        rec.answer = flaky
        await bot.set_webhook(rec.url)
        user = api.user(12)
        await user.send("one")
        await user.send("two")  # same chat: not posted before "one" is acknowledged
        await until(lambda: rec.texts()[-2:] == ["one", "two"] and not api.world.updates)
        assert rec.texts() == ["one"] * 4 + ["two"]
        info = await bot.get_webhook_info()
        assert info.last_error_message == "Wrong response from the webhook: 502 Bad Gateway"
        assert info.last_error_date is not None and info.pending_update_count == 0


async def test_an_unreachable_webhook_keeps_updates_pending_for_the_next_one() -> None:
    async with api_and_bot() as (api, bot), receiver() as rec:
        await bot.set_webhook("http://127.0.0.1:9/nobody-listens")
        await api.user(13).send("kept")
        await until(lambda: api.world.webhook.get("last_error_message") == "Connection refused")
        assert (await bot.get_webhook_info()).pending_update_count == 1
        await bot.set_webhook(rec.url)
        await until(lambda: rec.texts() == ["kept"] and not api.world.updates)


async def test_chats_are_delivered_concurrently_up_to_max_connections() -> None:
    async with api_and_bot() as (api, bot), receiver() as rec:
        release = asyncio.Event()
        concurrent = 0
        peak = 0

        async def slow(request: web.Request, update: dict[str, Any]) -> web.Response:
            nonlocal concurrent, peak
            concurrent += 1
            peak = max(peak, concurrent)
            await release.wait()
            concurrent -= 1
            return web.json_response({})

        rec.answer = slow
        await bot.set_webhook(rec.url, max_connections=2)
        for tg_id in (21, 22, 23):
            await api.user(tg_id).send(f"from {tg_id}")
        await api.user(21).send("second from 21")
        await until(lambda: len(rec.posts) == 2)
        await asyncio.sleep(0.2)  # a third would have been posted by now if the limit were not kept
        assert len(rec.posts) == 2 and concurrent == 2
        release.set()
        await until(lambda: not api.world.updates)
        assert peak == 2
        texts = rec.texts()
        assert sorted(texts) == ["from 21", "from 22", "from 23", "second from 21"]
        assert texts.index("from 21") < texts.index("second from 21")


async def test_update_types_outside_allowed_updates_are_dropped() -> None:
    async with api_and_bot() as (api, bot), receiver() as rec:
        await bot.set_webhook(rec.url, allowed_updates=["callback_query"])
        user = api.user(14)
        await user.send("not delivered")
        await until(lambda: not api.world.updates)
        assert rec.posts == []


async def test_a_method_in_the_webhook_answer_is_executed() -> None:
    async with api_and_bot() as (api, bot), receiver() as rec:

        async def reply(request: web.Request, update: dict[str, Any]) -> web.Response:
            chat = update["message"]["chat"]["id"]
            return web.json_response({"method": "sendMessage", "chat_id": chat, "text": "answered in the webhook reply"})

        rec.answer = reply
        await bot.set_webhook(rec.url)
        user = api.user(15)
        await user.send("hi")
        assert (await user.wait_for_reply()).text == "answered in the webhook reply"


async def test_set_webhook_validates_like_telegram() -> None:
    async with api_and_bot() as (_, bot):
        with pytest.raises(TelegramBadRequest, match="secret token contains unallowed characters"):
            await bot.set_webhook("https://example.org/hook", secret_token="no spaces")
        with pytest.raises(TelegramBadRequest, match="An HTTPS URL must be provided"):
            await bot.set_webhook("ftp://example.org/hook")
        with pytest.raises(TelegramBadRequest, match="max_connections"):
            await bot.set_webhook("https://example.org/hook", max_connections=0)
        assert (await bot.get_webhook_info()).url == ""
