"""``python bot.py`` / ``solobot run``: run the host bot until SIGINT or SIGTERM.

Configuration comes from the environment and ``.env`` (see README); a missing or malformed
setting — or another bot already running on the same data folder — is one line on stderr and
exit status 2, not a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from config import ConfigError, Settings, load_settings

EXIT_CONFIG = 2


def main(*, reload: bool = False, workers: int | None = None) -> int:
    """``workers``: ``--workers N`` (overrides WORKERS); more than one runs the arbiter (``workers.arbiter``)."""
    try:
        settings = load_settings()
        count = workers or settings.workers
        if count > 1 and reload:
            raise ConfigError("--reload works with one worker: unset WORKERS (or pass --workers 1) while developing")
        if count > 1:
            from workers.arbiter import check_settings

            check_settings(settings, count)
    except ConfigError as exc:
        print(f"solobot: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if count > 1:
        return _run_workers(settings, count)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(run(settings, reload=reload))
    except ConfigError as exc:  # includes "another bot is already running on this control socket"
        print(f"solobot: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    return 0


async def run(settings: Settings, *, reload: bool = False) -> None:
    from .app import SolobotHost

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with SolobotHost(settings, reload=reload):
        logging.getLogger("solobot").info("bot is running%s; Ctrl-C stops it", " with hot reload of modules" if reload else "")
        await stop.wait()


def _run_workers(settings: Settings, count: int) -> int:
    from workers.arbiter import run_workers
    from workers.worker import configure_logging

    configure_logging(None)
    try:
        asyncio.run(run_workers(settings, count))
    except ConfigError as exc:
        print(f"solobot: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    return 0
