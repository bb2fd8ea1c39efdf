"""``python bot.py``: run the host bot until SIGINT or SIGTERM.

Configuration comes from the environment and ``.env`` (see README); a missing or malformed
setting is one line on stderr and exit status 2, not a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from config import ConfigError, load_settings


def main() -> int:
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"solobot: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(run(settings))
    except ConfigError as exc:
        print(f"solobot: {exc}", file=sys.stderr)
        return 2
    return 0


async def run(settings: object) -> None:
    from .app import SolobotHost

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with SolobotHost(settings):  # type: ignore[arg-type]
        logging.getLogger("solobot").info("bot is running; Ctrl-C stops it")
        await stop.wait()
