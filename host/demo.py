"""``python -m host.demo``: the whole bot on embedded defaults, with no Telegram token.

Starts the local Bot API server, an embedded PostgreSQL (data in ``storage/postgres``), the
host bot and every module in ``modules/`` in its own process (hot reload on: saving a module's
file reloads that module), and a web chat page (printed URL, http://127.0.0.1:8090/ unless that
port is taken) to talk to the bot as in Telegram and start/stop/restart/reload modules. Unless
``--no-catalog``, a local module catalog starts too (``catalog.demo``: an example developer and
module, sign-in links printed). Unless ``--no-tour``, a scripted user first walks through the bot
(``/start``, the profile, each module button in it, a trial key and its card) and the transcript is printed. The bot keeps serving
until Ctrl-C, which stops everything (module processes and PostgreSQL included); any Bot API
client can also talk to the printed server URL with the printed token. With ``--webhook`` (or
``DEMO_WEBHOOK=1``) the bot runs in webhook mode: the local Bot API server posts the updates to
the bot's web server (``/telegram/webhook``, a fresh secret) instead of the bot long-polling.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import os
import re
import secrets
import signal
import socket
from collections.abc import Coroutine
from contextlib import AsyncExitStack
from typing import Any

import anyio

from config import ConfigError, load_settings
from local_bot_api import LocalBotAPI, MessageView, SimulatedUser

from .app import SolobotHost
from .webchat import ChatUser, WebChat

DEMO_TOKEN = "123456:DEMO"
DEMO_ADMIN = 1
CHAT_USERS = (
    ChatUser(DEMO_ADMIN, "Админ", "admin", "Администратор", admin=True),
    ChatUser(1002, "Гость", "guest", "Пользователь"),
)


def _show(view: MessageView) -> str:
    text = re.sub(r"</?(b|i|u|s|code|pre|a[^>]*)>", "", view.text or view.caption or "").replace("\n", "\n    ")
    buttons = " | ".join(f"[{label}]" for row in view.keyboard for label, _ in row)
    picture = " 🖼" if view.photo_file_id else ""
    return f"  bot{picture}: {text}\n    {buttons}" if buttons else f"  bot{picture}: {text}"


async def _step(user: SimulatedUser, action: str, what: str) -> MessageView | None:
    print(f"user presses [{what}]" if action == "press" else f"user: {what}")
    try:
        await (user.press(what) if action == "press" else user.send(what))
        view = await user.wait_for_reply(timeout=10)
    except (LookupError, TimeoutError) as exc:
        print(f"  (no answer: {exc})")
        return None
    print(_show(view))
    return view


async def tour(user: SimulatedUser) -> None:
    await _step(user, "send", "/start")
    profile = await _step(user, "press", "profile")
    core = {"view_keys", "balance", "invite", "instructions", "start", "admin"}
    module_buttons = [
        data
        for row in (profile.keyboard if profile else [])
        for _, data in row
        if data and data not in core and not data.startswith(("http://", "https://", "tg://"))
    ]
    for data in module_buttons:
        await _step(user, "press", data)
        await _step(user, "press", "profile")
    await _step(user, "send", "/start")
    created = await _step(user, "press", "create_key")
    card = _key_card(created)
    if created is not None and card is None:  # "creating…" comes first, then the key
        try:
            created = await user.wait_for_reply(timeout=10)
            print(_show(created))
            card = _key_card(created)
        except TimeoutError:
            print("  (no key message)")
    if card:
        await _step(user, "press", card)


def _key_card(view: MessageView | None) -> str | None:
    return next((d for row in (view.keyboard if view else []) for _, d in row if d and d.startswith("view_key|")), None)


async def _open_web_chat(stack: AsyncExitStack, api: LocalBotAPI, host: SolobotHost, address: str, port: int) -> WebChat:
    """The web chat on ``port``, or on any free port when that one is taken (the URL is printed anyway)."""
    try:
        return await stack.enter_async_context(WebChat(api, host.runtime, host=address, port=port, users=CHAT_USERS))
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE or port == 0:
            raise
        print(f"port {port} is taken; the web chat uses a free one")
        return await stack.enter_async_context(WebChat(api, host.runtime, host=address, port=0, users=CHAT_USERS))


async def _until(stop: asyncio.Event, work: Coroutine[Any, Any, None]) -> None:
    """Run ``work`` unless ``stop`` is set first; then it is cancelled (Ctrl-C in the middle of the tour).

    ``work``'s own error propagates as it is (the task group would wrap it in a group).
    """
    try:
        async with anyio.create_task_group() as group:

            async def cancel_on_stop() -> None:
                await stop.wait()
                group.cancel_scope.cancel()

            group.start_soon(cancel_on_stop)
            await work
            group.cancel_scope.cancel()  # done first: stop waiting for ``stop``
    except BaseExceptionGroup as errors:  # only ``work`` can raise here
        raise errors.exceptions[0] from None


WEBHOOK_PATH = "/telegram/webhook"


def _webhook_settings(web_port: int) -> dict[str, str]:
    """Webhook mode on this machine: the local Bot API posts to the bot's web server, which needs a known port."""
    if web_port == 0:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            web_port = sock.getsockname()[1]
    return {
        "WEB_PORT": str(web_port),
        "WEBHOOK_URL": f"http://127.0.0.1:{web_port}{WEBHOOK_PATH}",
        "WEBHOOK_SECRET": secrets.token_urlsafe(32),  # A-Z, a-z, 0-9, _ and -: Telegram's alphabet
    }


async def run(
    port: int,
    web_port: int,
    walk: bool,
    chat_host: str = "127.0.0.1",
    chat_port: int = 8090,
    catalog_port: int | None = 8100,
    webhook: bool = False,
) -> None:
    # Signals only set ``stop`` from the start on: a Ctrl-C during start-up lets it finish and
    # then takes everything down in order, instead of tearing through half-started parts.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await _serve(stop, port, web_port, walk, chat_host, chat_port, catalog_port, webhook)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def _open_catalog(stack: AsyncExitStack, host: SolobotHost, data_dir: str, port: int) -> None:
    """The module catalog with an example developer and module (``catalog.demo``); its sign-in links are printed."""
    from pathlib import Path

    from catalog.demo import demo_catalog

    assert host.database_url is not None
    catalog = await stack.enter_async_context(demo_catalog(host.database_url, Path(data_dir), moderator_id=DEMO_ADMIN, port=port))
    print(f"Module catalog: {catalog.url}  (public key {catalog.public_key})")
    print(f"  sign in as the example developer: {catalog.developer_link}")
    print(f"  sign in as the moderator (the demo's admin): {catalog.moderator_link}")
    host.attach_catalog(catalog.url, catalog.public_key)  # «🧩 Модули» → «🛒 Каталог», `solobot catalog ...`
    print("  the bot installs from it: «🧩 Модули» → «🛒 Каталог» in the admin panel, or `solobot catalog list`\n")


async def _serve(
    stop: asyncio.Event,
    port: int,
    web_port: int,
    walk: bool,
    chat_host: str,
    chat_port: int,
    catalog_port: int | None = 8100,
    webhook: bool = False,
) -> None:
    async with LocalBotAPI(token=DEMO_TOKEN, port=port) as api:
        demo = {
            "BOT_TOKEN": DEMO_TOKEN,
            "TELEGRAM_API_URL": api.base_url,
            "ADMIN_IDS": str(DEMO_ADMIN),
            "WEB_PORT": str(web_port),
            **(_webhook_settings(web_port) if webhook else {}),
        }
        settings = load_settings({**os.environ, **demo}, env_file=None)  # DATA_DIR, MODULES_DIR… still apply
        # Leaving this block stops the web chat first (its event streams end), then the host
        # (module processes, PostgreSQL), then the Bot API server.
        async with SolobotHost(settings, throttle_rate=0.0, reload=True) as host, AsyncExitStack() as stack:
            assert host.runtime is not None
            for status in host.runtime.status():
                print(f"module {status['name']:<16} {status['state']:<8} pid {status['pid']}")
            chat = await _open_web_chat(stack, api, host, chat_host, chat_port)
            print(f"\nLocal Bot API server: {api.base_url} (token {DEMO_TOKEN}); module webhooks: {host.web_url}")
            if settings.webhook_url:
                print(f"Webhook mode: the Bot API server posts updates to {settings.webhook_url}")
            print(f"Web chat: {chat.url}  (hot reload is on: saving a file in {settings.modules_dir}/ reloads that module)\n")
            if catalog_port is not None and not stop.is_set():
                await _open_catalog(stack, host, settings.data_dir, catalog_port)
            if walk and not stop.is_set():
                await _until(stop, tour(api.user(DEMO_ADMIN, "Админ", "admin")))
            if not stop.is_set():
                print(f"\nWeb chat: {chat.url}")
                print("The bot keeps serving; Ctrl-C stops everything.", flush=True)
                await stop.wait()
            print("Stopping…", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m host.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8081, help="local Bot API server port (default 8081)")
    parser.add_argument("--web-port", type=int, default=8080, help="module webhook server port (default 8080)")
    parser.add_argument("--chat-port", type=int, default=8090, help="web chat port (default 8090; 0: any free port)")
    parser.add_argument("--chat-host", default="127.0.0.1", help="web chat address (default 127.0.0.1: this machine only)")
    parser.add_argument("--no-tour", action="store_true", help="skip the scripted walk through the bot in the terminal")
    parser.add_argument("--catalog-port", type=int, default=8100, help="module catalog port (default 8100; 0: any free port)")
    parser.add_argument("--no-catalog", action="store_true", help="do not start the local module catalog")
    parser.add_argument(
        "--webhook",
        action="store_true",
        default=os.environ.get("DEMO_WEBHOOK", "").lower() in ("1", "true", "yes"),
        help="webhook mode: the Bot API server posts updates to the bot's web server (also DEMO_WEBHOOK=1); default: polling",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        catalog_port = None if args.no_catalog else args.catalog_port
        asyncio.run(run(args.port, args.web_port, not args.no_tour, args.chat_host, args.chat_port, catalog_port, args.webhook))
    except ConfigError as exc:
        raise SystemExit(f"solobot demo: {exc}") from None


if __name__ == "__main__":
    main()
