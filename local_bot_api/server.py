"""``LocalBotAPI``: an aiohttp app speaking the Telegram Bot API over real HTTP on 127.0.0.1.

A real aiogram ``Bot`` points at ``api.base_url`` (via ``TelegramAPIServer.from_base``),
so the whole client stack — serialisation, multipart, error mapping — is exercised.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from .driver import SimulatedUser
from .form_parts import read_form_parts
from .methods import HANDLERS, ApiError, Params
from .state import UserInfo, World
from .webhook_delivery import WebhookDelivery

# Polling must never be throttled, or the bot could not even receive the updates.
UNLIMITED_METHODS = frozenset({"getupdates", "getme"})


class LocalBotAPI:
    """An in-process fake Telegram; use as ``async with LocalBotAPI() as api``.

    ``rate_limit=(calls, seconds)`` answers 429 with ``retry_after`` once more than
    ``calls`` requests arrive within ``seconds`` (off by default).

    While a webhook is set (``setWebhook``), updates are posted to it (``webhook_delivery``);
    ``webhook_retry=(first, max)``: the backoff in seconds between attempts to post one update.
    """

    def __init__(
        self,
        token: str = "123456:TEST",
        *,
        bot_username: str = "local_test_bot",
        bot_first_name: str = "Local Test Bot",
        rate_limit: tuple[int, float] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        webhook_retry: tuple[float, float] = (0.1, 2.0),
    ) -> None:
        bot_id = int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else 123456
        self.token = token
        self.host = host
        self.rate_limit = rate_limit
        self.world = World(bot=UserInfo(id=bot_id, first_name=bot_first_name, username=bot_username, is_bot=True), token=token)
        self._calls: deque[float] = deque()
        self._runner: web.AppRunner | None = None
        self.port: int | None = None
        self._requested_port = port  # 0: any free port
        self.webhook_delivery = WebhookDelivery(self.world, retry_first=webhook_retry[0], retry_max=webhook_retry[1])
        self._delivering: asyncio.Task[None] | None = None

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("LocalBotAPI is not running")
        return f"http://{self.host}:{self.port}"

    def user(self, tg_id: int, first_name: str = "User", username: str | None = None, **extra: Any) -> SimulatedUser:
        """Register (or re-use) a simulated user and return its driver."""
        existing = self.world.users.get(tg_id)
        info = existing or self.world.add_user(UserInfo(id=tg_id, first_name=first_name, username=username, **extra))
        return SimulatedUser(self.world, info)

    # --- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._requested_port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self._delivering = asyncio.get_running_loop().create_task(self.webhook_delivery.run(), name="local-bot-api-webhook")
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.world.close()  # wake long polls first so cleanup does not wait for them
        if self._delivering is not None:
            self._delivering.cancel()
            await asyncio.gather(self._delivering, return_exceptions=True)
            self._delivering = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- HTTP -----------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(ApiError("Unauthorized", 401))
        name = request.match_info["method"].lower()
        handler = HANDLERS.get(name)
        if handler is None:
            return _error(ApiError("Not Found", 404))
        if name not in UNLIMITED_METHODS and (retry_after := self._throttle()):
            return _error(ApiError(f"Too Many Requests: retry after {retry_after}", 429, {"retry_after": retry_after}))
        try:
            params = await _read_params(request)
            result = await handler(self.world, params)
        except ApiError as e:
            return _error(e)
        return web.json_response({"ok": True, "result": result})

    def _throttle(self) -> int:
        """Sliding-window limiter; returns seconds to wait, or 0 when the call may pass."""
        if self.rate_limit is None:
            return 0
        calls, period = self.rate_limit
        now = time.monotonic()
        while self._calls and now - self._calls[0] >= period:
            self._calls.popleft()
        if len(self._calls) >= calls:
            return max(1, math.ceil(period - (now - self._calls[0])))
        self._calls.append(now)
        return 0


def _error(error: ApiError) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": error.error_code, "description": error.description}
    if error.parameters:
        body["parameters"] = error.parameters
    return web.json_response(body, status=error.error_code)


async def _read_params(request: web.Request) -> Params:
    """Merge query string with a JSON, urlencoded or multipart body, as Telegram does."""
    params: Params = dict(request.query)
    if not request.can_read_body:
        return params
    content_type = request.content_type
    if content_type == "application/json":
        body = await request.json()
        if isinstance(body, dict):
            params.update(body)
    elif content_type == "multipart/form-data":
        params.update(await read_form_parts(await request.multipart()))
    else:
        params.update(await request.post())
    return params
