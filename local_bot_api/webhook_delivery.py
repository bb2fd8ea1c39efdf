"""``WebhookDelivery``: posts pending updates to the webhook set with ``setWebhook``, as Telegram does.

Modelled on telegram-bot-api's webhook sender: updates of one chat go one at a time and in order
(the next waits until the previous one is acknowledged), updates of different chats go
concurrently, up to the webhook's ``max_connections`` requests at once. Each request carries
``X-Telegram-Bot-Api-Secret-Token`` when a secret was set. A 2xx answer acknowledges the update
(it leaves ``pending_update_count``); any other answer, a refused connection or no answer within
``timeout`` is recorded as ``last_error_date`` / ``last_error_message`` and the same update is
posted again after a backoff that doubles from ``retry_first`` up to ``retry_max`` seconds.
Update types outside ``allowed_updates`` are dropped, not delivered (when unset: every type but
chat_member, message_reaction and message_reaction_count, Telegram's default). A webhook answer
may carry a Bot API method (JSON or multipart with a ``method`` field): it is executed, its
errors ignored, as Telegram does.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

from .form_parts import read_form_parts
from .methods import HANDLERS, ApiError, Params
from .state import World

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
NOT_DEFAULT_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})


class WebhookDelivery:
    def __init__(self, world: World, *, retry_first: float = 0.1, retry_max: float = 2.0, timeout: float = 60.0) -> None:
        self.world = world
        self.retry_first = retry_first
        self.retry_max = retry_max
        self.timeout = timeout
        self._in_flight: set[int] = set()  # update ids being posted
        self._busy_chats: set[int | str] = set()  # at most one update per chat at a time: in order
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self.delivered = 0  # updates acknowledged by the webhook

    async def run(self) -> None:
        """Deliver until the server closes or this task is cancelled; the posts under way are cancelled then."""
        try:
            async with aiohttp.ClientSession() as session:
                await self._deliver_while_open(session)
        finally:
            await self.aclose()

    async def _deliver_while_open(self, session: aiohttp.ClientSession) -> None:
        while not self.world.closing:
            self._start_deliveries(session)
            self._wake.clear()  # no await since the deliveries started: no finished one is missed
            changed = asyncio.ensure_future(self.world.wait_change(3600))  # a new update, a webhook set
            woken = asyncio.ensure_future(self._wake.wait())  # a delivery ended: its chat is free
            try:
                await asyncio.wait({changed, woken}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                changed.cancel()
                woken.cancel()

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _start_deliveries(self, session: aiohttp.ClientSession) -> None:
        hook = dict(self.world.webhook)
        if not hook.get("url"):
            return
        allowed = set(hook.get("allowed_updates") or ())
        for update in list(self.world.updates):
            if len(self._in_flight) >= hook["max_connections"]:
                return
            kind = _kind(update)
            if (kind not in allowed) if allowed else (kind in NOT_DEFAULT_UPDATES):
                self.world.remove_update(update["update_id"])
                continue
            chat = _chat_of(update)
            if update["update_id"] in self._in_flight or chat in self._busy_chats:
                continue
            self._in_flight.add(update["update_id"])
            self._busy_chats.add(chat)
            task = asyncio.get_running_loop().create_task(self._deliver(session, hook, update, chat))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(
        self, session: aiohttp.ClientSession, hook: dict[str, Any], update: dict[str, Any], chat: int | str
    ) -> None:
        delay = self.retry_first
        try:
            # Stop when the webhook is deleted or moved: the update stays pending for what comes next.
            # The secret is read at every attempt: a setWebhook with a new one applies to the retries.
            while not self.world.closing and (current := self.world.webhook).get("url") == hook["url"]:
                headers = {SECRET_HEADER: current["secret_token"]} if current.get("secret_token") else {}
                error = await self._post(session, hook["url"], update, headers)
                if error is None:
                    self.world.remove_update(update["update_id"])
                    self.delivered += 1
                    return
                current["last_error_date"] = int(time.time())
                current["last_error_message"] = error
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max)
        finally:
            self._in_flight.discard(update["update_id"])
            self._busy_chats.discard(chat)
            self._wake.set()

    async def _post(
        self, session: aiohttp.ClientSession, url: str, update: dict[str, Any], headers: dict[str, str]
    ) -> str | None:
        """None when acknowledged, else Telegram's wording of what went wrong."""
        try:
            async with session.post(url, json=update, headers=headers, timeout=aiohttp.ClientTimeout(total=self.timeout)) as resp:
                if not 200 <= resp.status < 300:
                    return f"Wrong response from the webhook: {resp.status} {resp.reason}"
                await self._run_answer(resp)
        except TimeoutError:
            return "Read timeout expired"
        except aiohttp.ClientConnectionError:
            return "Connection refused"
        return None

    async def _run_answer(self, resp: aiohttp.ClientResponse) -> None:
        params: Params = {}
        if resp.content_type == "multipart/form-data":
            params = await read_form_parts(aiohttp.MultipartReader.from_response(resp))
        elif resp.content_type == "application/json":
            try:
                body = await resp.json()
            except ValueError:
                return
            params = body if isinstance(body, dict) else {}
        handler = HANDLERS.get(str(params.pop("method", "")).lower())
        if handler is None:
            return
        try:
            await handler(self.world, params)
        except ApiError:
            pass  # Telegram reports nothing about a method in a webhook answer


def _kind(update: dict[str, Any]) -> str:
    return next(key for key in update if key != "update_id")


def _chat_of(update: dict[str, Any]) -> int | str:
    """The chat (else the user) an update belongs to: its delivery queue."""
    payload = update[_kind(update)]
    if isinstance(payload, dict):
        for holder in (payload, payload.get("message") or {}):
            if isinstance(chat := holder.get("chat"), dict) and "id" in chat:
                return chat["id"]
        if isinstance(sender := payload.get("from"), dict) and "id" in sender:
            return sender["id"]
    return f"update-{update['update_id']}"
