"""``WebChat``: the demo's web page to talk to the bot as in Telegram, and to operate its modules.

It is one more client of the local Bot API's ``World``: a person's messages and button presses
go in through ``SimulatedUser`` (as the tests' scripted users do), and the chat comes back out
of the world as the user's Telegram client would show it. The side panel drives the module
runtime (``start/stop/restart/reload``).

Routes: ``GET /`` (the page), ``GET /api/users``, ``GET /api/state?user=``, ``GET /api/events?user=``
(live updates, see ``events.py``), ``GET /api/files/{file_id}``, and ``POST /api/send``,
``/api/press``, ``/api/modules/{name}/{action}`` (JSON bodies).
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from local_bot_api import LocalBotAPI, SimulatedUser
from runtime import ModuleRuntime

from .events import event_stream
from .modules import ModuleActionError, ModulePanel
from .page import Page
from .views import chat_view

log = logging.getLogger("solobot.webchat")

MAX_TEXT = 4096  # Telegram's limit for one message
_dumps = functools.partial(json.dumps, ensure_ascii=False)


@dataclass(frozen=True)
class ChatUser:
    """Someone the page can talk as; ``label`` is what the user switcher shows."""

    id: int
    first_name: str
    username: str | None
    label: str
    admin: bool = False


DEFAULT_USERS = (
    ChatUser(1, "Админ", "admin", "Администратор", admin=True),
    ChatUser(1002, "Гость", "guest", "Пользователь"),
)

_IMAGE_MAGIC = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg", b"GIF8": "image/gif"}


def _image_type(data: bytes) -> str | None:
    for magic, mime in _IMAGE_MAGIC.items():
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=_dumps)  # Russian stays readable in devtools


def _fail(status: int, message: str) -> web.Response:
    return _json({"ok": False, "error": message}, status)


class WebChat:
    """``async with WebChat(api, runtime, port=8090) as chat:`` serves ``chat.url`` while inside."""

    def __init__(
        self,
        api: LocalBotAPI,
        runtime: ModuleRuntime | None,
        *,
        host: str = "127.0.0.1",
        port: int = 8090,
        users: Sequence[ChatUser] = DEFAULT_USERS,
    ) -> None:
        self.api = api
        self.world = api.world
        self.host = host
        self.port = port
        self.users = {u.id: u for u in users}
        self.drivers: dict[int, SimulatedUser] = {u.id: api.user(u.id, u.first_name, u.username) for u in users}
        self.modules = ModulePanel(runtime, on_change=self.world.notify)
        self.page = Page.load()
        self._closing = False
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    # --- lifecycle ------------------------------------------------------------------------

    def build_app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024)
        app.router.add_get("/", self._index)
        app.router.add_get("/api/users", self._users)
        app.router.add_get("/api/state", self._state)
        app.router.add_get("/api/events", self._events)
        app.router.add_get("/api/files/{file_id}", self._file)
        app.router.add_post("/api/send", self._send)
        app.router.add_post("/api/press", self._press)
        app.router.add_post("/api/modules/{name}/{action}", self._module_action)
        return app

    async def __aenter__(self) -> Self:
        # A short shutdown timeout: open event streams end on their own (see __aexit__), and a
        # stuck one must not hold Ctrl-C up.
        self._runner = web.AppRunner(self.build_app(), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        try:
            await web.TCPSite(self._runner, self.host, self.port).start()
        except BaseException:
            await self._runner.cleanup()
            self._runner = None
            raise
        self.port = self._runner.addresses[0][1]
        log.info("web chat on %s", self.url)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._closing = True
        self.world.notify()  # event streams see _closing and return
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- helpers --------------------------------------------------------------------------

    def _user(self, raw: Any) -> int:
        try:
            user_id = int(raw)
        except (TypeError, ValueError):
            raise web.HTTPBadRequest(text="user must be a number") from None
        if user_id not in self.users:
            raise web.HTTPNotFound(text=f"no user {user_id} on this page")
        return user_id

    @staticmethod
    async def _body(request: web.Request) -> dict[str, Any]:
        # JSON only: a cross-site <form> can post urlencoded or text/plain without asking, but
        # never application/json, so another web page can't press buttons or stop modules here.
        if request.content_type != "application/json":
            raise web.HTTPUnsupportedMediaType(text="send application/json")
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise web.HTTPBadRequest(text="malformed JSON") from None
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(text="expected a JSON object")
        return body

    # --- routes ---------------------------------------------------------------------------

    async def _index(self, request: web.Request) -> web.Response:
        return web.Response(
            body=self.page.body,
            content_type="text/html",
            charset="utf-8",
            headers={"Content-Security-Policy": self.page.csp, "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
        )

    async def _users(self, request: web.Request) -> web.Response:
        return _json([{"id": u.id, "name": u.first_name, "label": u.label, "admin": u.admin} for u in self.users.values()])

    async def _state(self, request: web.Request) -> web.Response:
        user_id = self._user(request.query.get("user"))
        return _json({"chat": chat_view(self.world, user_id), "modules": await self.modules.snapshot()})

    async def _events(self, request: web.Request) -> web.StreamResponse:
        user_id = self._user(request.query.get("user"))
        return await event_stream(request, self.world, user_id, self.modules.snapshot, lambda: self._closing)

    async def _file(self, request: web.Request) -> web.Response:
        stored = self.world.files.get(request.match_info["file_id"])
        if stored is None or not stored.data:
            raise web.HTTPNotFound(text="no such file")
        image = _image_type(stored.data)
        headers = {"Content-Security-Policy": "default-src 'none'; sandbox", "X-Content-Type-Options": "nosniff"}
        if image is None:
            # Whatever a module uploaded is never rendered by the browser as a page of this origin.
            name = (stored.file_name or "file").replace('"', "")
            headers["Content-Disposition"] = f'attachment; filename="{name}"'
        return web.Response(body=stored.data, content_type=image or "application/octet-stream", headers=headers)

    async def _send(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        user_id = self._user(body.get("user"))
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            return _fail(400, "пустое сообщение")
        if len(text) > MAX_TEXT:
            return _fail(400, f"сообщение длиннее {MAX_TEXT} символов")
        view = await self.drivers[user_id].send(text)
        return _json({"ok": True, "message_id": view.message_id})

    async def _press(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        user_id = self._user(body.get("user"))
        data, message_id = body.get("data"), body.get("message_id")
        if not isinstance(data, str) or not isinstance(message_id, int):
            return _fail(400, "нужны data и message_id")
        try:
            query_id = await self.drivers[user_id].press(data, message_id=message_id)
        except (LookupError, ValueError):
            return _fail(404, "кнопки больше нет")  # the message was edited or deleted meanwhile
        return _json({"ok": True, "query_id": query_id})

    async def _module_action(self, request: web.Request) -> web.Response:
        await self._body(request)  # only for the JSON check above: the path says everything
        name, action = request.match_info["name"], request.match_info["action"]
        try:
            await self.modules.act(name, action)
        except ModuleActionError as exc:
            return _fail(409, str(exc))
        return _json({"ok": True, "modules": await self.modules.snapshot()})
