"""The process-wide engine and session factory (upstream: ``database.db``).

Importing this module connects to nothing: it is pre-imported by the zygote, which forks
module processes, and a connection pool must never be shared across ``fork()``. Each process
calls :func:`bind` with its own URL once it knows it. ``async_session_maker`` exists (unbound)
from import time on, so ``from database import async_session_maker`` done before ``bind`` keeps
working afterwards: ``bind`` reconfigures that same object.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from .models import Base  # noqa: F401  (upstream modules import the declarative base from here too)

engine: AsyncEngine | None = None
async_session_maker: async_sessionmaker[AsyncSession] = async_sessionmaker(class_=AsyncSession, expire_on_commit=False)


def bind(url: str, **engine_kwargs: Any) -> AsyncEngine:
    """Create the engine for ``url`` and point ``async_session_maker`` at it.

    ``engine_kwargs`` go to :func:`create_async_engine` (pool size, ``echo`` ...). Binding again
    replaces the engine; the caller disposes the old one if it had one (see :func:`dispose`).
    """
    global engine
    engine_kwargs.setdefault("pool_pre_ping", True)
    engine = create_async_engine(url, **engine_kwargs)
    async_session_maker.configure(bind=engine)
    return engine


async def dispose() -> None:
    """Close every pooled connection and unbind the session factory."""
    global engine
    if engine is None:
        return
    old, engine = engine, None
    async_session_maker.configure(bind=None)
    await old.dispose()


def get_engine() -> AsyncEngine:
    """The bound engine; a clear error instead of ``None`` when :func:`bind` was not called."""
    if engine is None:
        raise RuntimeError("database is not bound: call database.db.bind(url) first")
    return engine
