"""``solobot catalog serve``: the catalog on embedded defaults (key pair, secret and PostgreSQL created on first start).

async with running_catalog(settings) as running:   # also what the demo and the tests use
    running.url, running.catalog
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, replace

from aiohttp import web

from .config import CatalogSettings
from .context import CatalogContext, open_catalog
from .web import build_app

log = logging.getLogger("solobot.catalog")


@dataclass
class RunningCatalog:
    catalog: CatalogContext
    url: str
    port: int


@asynccontextmanager
async def running_catalog(settings: CatalogSettings) -> AsyncIterator[RunningCatalog]:
    async with AsyncExitStack() as stack:
        catalog = await stack.enter_async_context(open_catalog(settings))
        runner = web.AppRunner(build_app(catalog), access_log=None)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        await web.TCPSite(runner, settings.host, settings.port).start()
        port = runner.addresses[0][1]  # the real port when 0 was asked
        url = f"http://{settings.host}:{port}"
        if not settings.public_url:  # links in the index and the bot's messages: where it really listens
            catalog.settings = settings = replace(settings, public_url=url)
            catalog.publisher.public_url = url
        if settings.bot_token:
            from .accounts.bot import LoginBot

            bot = await stack.enter_async_context(
                LoginBot(settings.bot_token, catalog.sessions, settings.public_url, settings.telegram_api_url)
            )
            catalog.bot_username = catalog.bot_username or bot.username
        yield RunningCatalog(catalog, url, port)


def announce(running: RunningCatalog) -> None:
    catalog = running.catalog
    print(f"Catalog: {running.url}  (public URL {catalog.settings.public_url})")
    if catalog.key_created:
        print(f"Created the catalog's Ed25519 key pair in {catalog.settings.data_dir} (catalog.key, mode 0600).")
    print(f"Catalog public key — pin it in each bot as CATALOG_PUBLIC_KEY={catalog.signer.public_key_text}")
    if not catalog.settings.admin_ids:
        print("No moderators: set CATALOG_ADMIN_IDS (Telegram user IDs) to review applications.")
    if not catalog.settings.bot_token:
        print("No CATALOG_BOT_TOKEN: nobody can sign in (the Login Widget and login links need the catalog's bot).")


async def serve(settings: CatalogSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with running_catalog(settings) as running:
        announce(running)
        print("Ctrl-C stops the catalog.", flush=True)
        await stop.wait()
    print("Catalog stopped.")


def main(argv: list[str] | None = None) -> int:
    import argparse

    from .config import CatalogConfigError, load_catalog_settings

    parser = argparse.ArgumentParser(prog="solobot catalog serve", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", help="address to listen on (default $CATALOG_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default $CATALOG_PORT or 8100)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_catalog_settings()
    except CatalogConfigError as exc:
        print(f"solobot catalog: {exc}")
        return 2
    settings = replace(settings, host=args.host or settings.host, port=settings.port if args.port is None else args.port)
    asyncio.run(serve(settings))
    return 0
