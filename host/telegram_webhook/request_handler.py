"""``TelegramWebhookHandler``: aiogram's ``SimpleRequestHandler`` on the host's web server.

aiogram checks ``X-Telegram-Bot-Api-Secret-Token`` (constant-time) and writes a handler's returned
Bot API method into the answer, as Telegram allows. What this subclass changes, and why:

* Every update is handled as a task of :class:`UpdatesInFlight` (aiogram's background mode uses
  bare tasks a drain cannot see). The request waits for its update's handlers — Telegram then
  redelivers the update if this worker dies before answering, and limits how many updates are
  in hand at once (``max_connections``) — but at most ``answer_within`` seconds: past that the
  answer goes out empty and the handling goes on, still counted (aiogram does the same, untracked).
* A handler's exception is logged and the update answered 200: Telegram would otherwise
  redeliver it forever and hold back that chat's later updates (polling moves on likewise).
* A draining worker answers 503: Telegram (or nginx's ``proxy_next_upstream``) retries elsewhere.
* A wrong or missing secret is 401, nothing dispatched, logged once per source (``RefusalLog``).
* The bot session belongs to the host: this handler never closes it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.methods import TelegramMethod
from aiogram.types import Update
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from pydantic import ValidationError

from .refusal_log import RefusalLog
from .updates_in_flight import UpdatesInFlight

log = logging.getLogger("solobot.webhook")

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ANSWER_WITHIN = 55.0  # s; Telegram gives up on an answer after about 60 s and redelivers (aiogram's figure)
DRAINING_RETRY_AFTER = "1"  # s


class TelegramWebhookHandler(SimpleRequestHandler):
    def __init__(
        self,
        dispatcher: Dispatcher,
        bot: Bot,
        *,
        secret_token: str,
        in_flight: UpdatesInFlight,
        refusals: RefusalLog | None = None,
        answer_within: float = ANSWER_WITHIN,
    ) -> None:
        super().__init__(dispatcher, bot, handle_in_background=False, secret_token=secret_token)
        self.in_flight = in_flight
        self.refusals = refusals or RefusalLog()
        self.answer_within = answer_within

    def register(self, app: web.Application, /, path: str, **kwargs: Any) -> None:
        app.router.add_route("POST", path, self.handle, **kwargs)  # no shutdown hook: the session is the host's

    async def close(self) -> None:
        """Nothing to close: the bot and its session belong to the host."""

    async def handle(self, request: web.Request) -> web.Response:
        supplied = request.headers.get(SECRET_HEADER)
        if not self.verify_secret(supplied or "", self.bot):
            self.refusals.refuse(request, "no secret token header" if supplied is None else "wrong secret token")
            return web.Response(status=401, text="Unauthorized")
        try:
            update = Update.model_validate(await request.json(loads=self.bot.session.json_loads), context={"bot": self.bot})
        except (ValueError, ValidationError) as exc:
            log.warning("Telegram webhook: the body is not an Update (%s); answered 400", type(exc).__name__)
            return web.Response(status=400, text="not an Update")
        # Checked after reading the body, with no await before the spawn: a drain that began meanwhile is seen.
        if not self.in_flight.accepting:
            return web.Response(status=503, text="draining", headers={"Retry-After": DRAINING_RETRY_AFTER})
        answer: asyncio.Future[TelegramMethod[Any] | None] = asyncio.get_running_loop().create_future()
        self.in_flight.spawn(self._handle_update(update, answer), update.update_id)
        try:
            result = await asyncio.wait_for(asyncio.shield(answer), self.answer_within)
        except TimeoutError:
            if answer.cancel():  # the handling goes on; a method it returns is then called, not answered
                log.warning(
                    "Telegram webhook: update %d still handled after %.0f s; answered empty", update.update_id, self.answer_within
                )
                return web.json_response({})
            result = answer.result()
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if answer.cancel() or (current is not None and current.cancelling()):
                raise  # this request itself was cancelled (the server is closing)
            # The handling was cancelled (a stop past its drain bound): not handled, so not acknowledged.
            return web.Response(status=503, text="not handled; deliver again", headers={"Retry-After": DRAINING_RETRY_AFTER})
        return web.Response(body=self._build_response_writer(bot=self.bot, result=result))

    async def _handle_update(self, update: Update, answer: asyncio.Future[TelegramMethod[Any] | None]) -> None:
        try:
            result = await self.dispatcher.feed_update(self.bot, update, **self.data)
        except Exception:
            log.exception("Telegram webhook: update %d failed in a handler (answered as handled)", update.update_id)
            result = None
        except asyncio.CancelledError:
            answer.cancel()  # the request answers 503: Telegram delivers the update again
            raise
        method = result if isinstance(result, TelegramMethod) else None
        if not answer.done():
            answer.set_result(method)
        elif method is not None:  # answered already (too slow): call it as polling would
            await self.dispatcher.silent_call_request(self.bot, method)
