"""``CatalogContext``: the parts a running catalog is made of, built once and passed to the web app.

async with open_catalog(settings) as catalog:   # key pair, secret, database, storage, checker
    app = build_app(catalog)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from .accounts.sessions import SessionCodec, load_secret
from .config import CatalogSettings
from .db.engine import create_schema, make_sessions, open_database
from .publishing import Publisher
from .signing import CatalogSigner
from .storage import LocalStorage, Storage
from .uploads.checks import UploadChecker


@dataclass
class CatalogContext:
    settings: CatalogSettings
    engine: AsyncEngine
    sessions: async_sessionmaker
    signer: CatalogSigner
    storage: Storage
    checker: UploadChecker
    publisher: Publisher
    cookies: SessionCodec
    key_created: bool = False
    bot_username: str | None = None  # from getMe when the login bot runs

    def is_moderator(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.settings.admin_ids


@asynccontextmanager
async def open_catalog(settings: CatalogSettings) -> AsyncIterator[CatalogContext]:
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    signer, created = CatalogSigner.load_or_create(settings.data_dir)
    async with AsyncExitStack() as stack:
        url, close = await open_database(settings.database_url, settings.data_dir)
        stack.push_async_callback(close)
        engine, sessions = make_sessions(url)
        stack.push_async_callback(engine.dispose)
        await create_schema(engine)
        checker = UploadChecker(settings.limits, start_check=settings.start_check)
        stack.push_async_callback(checker.aclose)
        checker.warm_up()
        yield CatalogContext(
            settings=settings,
            engine=engine,
            sessions=sessions,
            signer=signer,
            storage=LocalStorage(settings.data_dir / "files"),
            checker=checker,
            publisher=Publisher(sessions, signer, settings.public_url, settings.index_ttl),
            cookies=SessionCodec(load_secret(settings.secret, settings.data_dir)),
            key_created=created,
            bot_username=settings.bot_username,
        )
