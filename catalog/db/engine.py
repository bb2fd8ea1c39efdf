"""The catalog's database: ``CATALOG_DATABASE_URL``, else an embedded PostgreSQL in ``<DATA_DIR>/catalog/postgres``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from .models import Base

Closer = Callable[[], Awaitable[None]]


async def open_database(url: str | None, data_dir: Path) -> tuple[str, Closer]:
    """The URL to use and an async closer (stops the embedded server when one was started)."""
    if url:

        async def nothing() -> None:
            return None

        return url, nothing
    import anyio

    from database.embedded import EmbeddedPostgres

    pg = EmbeddedPostgres(data_dir / "postgres")
    await anyio.to_thread.run_sync(pg.start)

    async def close() -> None:
        await anyio.to_thread.run_sync(pg.stop)

    return pg.url, close


async def create_schema(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)


def make_sessions(url: str) -> tuple[AsyncEngine, async_sessionmaker]:
    engine = create_async_engine(url, pool_pre_ping=True)
    return engine, async_sessionmaker(engine, expire_on_commit=False)
