"""``python -m host.demo``: the whole bot on embedded defaults, with no Telegram token.

Starts the local Bot API server, an embedded PostgreSQL (data in ``storage/postgres``), the
host bot and every module in ``modules/`` in its own process; then a scripted user walks
through the bot (``/start``, the profile, each module button in it, a trial key and its card)
and the transcript is printed, so you can see modules answering from their processes. The bot
keeps serving until Ctrl-C; any Bot API client can talk to the printed server URL with the
printed token.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import signal

from config import ConfigError, load_settings
from local_bot_api import LocalBotAPI, MessageView, SimulatedUser

from .app import SolobotHost

DEMO_TOKEN = "123456:DEMO"
DEMO_ADMIN = 1


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
    card = next((d for row in (created.keyboard if created else []) for _, d in row if d and d.startswith("view_key|")), None)
    if card:
        await _step(user, "press", card)


async def run(port: int, web_port: int, walk: bool) -> None:
    async with LocalBotAPI(token=DEMO_TOKEN, port=port) as api:
        demo = {
            "BOT_TOKEN": DEMO_TOKEN,
            "TELEGRAM_API_URL": api.base_url,
            "ADMIN_IDS": str(DEMO_ADMIN),
            "WEB_PORT": str(web_port),
        }
        settings = load_settings({**os.environ, **demo}, env_file=None)  # DATA_DIR, MODULES_DIR… still apply
        async with SolobotHost(settings, throttle_rate=0.0) as host:
            assert host.runtime is not None
            for status in host.runtime.status():
                print(f"module {status['name']:<16} {status['state']:<8} pid {status['pid']}")
            print(f"\nLocal Bot API server: {api.base_url} (token {DEMO_TOKEN}); module webhooks: {host.web_url}\n")
            if walk:
                await tour(api.user(DEMO_ADMIN, "Админ", "admin"))
            print("\nThe bot keeps serving; Ctrl-C stops everything.")
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m host.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8081, help="local Bot API server port (default 8081)")
    parser.add_argument("--web-port", type=int, default=8080, help="module webhook server port (default 8080)")
    parser.add_argument("--no-tour", action="store_true", help="skip the scripted walk through the bot")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(run(args.port, args.web_port, not args.no_tour))
    except ConfigError as exc:
        raise SystemExit(f"solobot demo: {exc}") from None


if __name__ == "__main__":
    main()
