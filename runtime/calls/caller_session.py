"""The caller's database session while a hook is fanned out to module processes (or a module's
fast-flow payment handler runs: ``aiogram_bridge.fast_flows``).

Core code passes its handler's ``session`` to ``run_hooks`` (upstream's signature). If that
session is inside a transaction it holds one of the host's pooled connections, and would hold it
for as long as the slowest module takes to answer (up to the hook's timeout): enough slow or
hung modules, and the pool every other update needs is drained. Module processes never see that
transaction anyway (each uses its own connection), so when it has written nothing — PostgreSQL
has not assigned it a transaction id — the host ends it before fanning out, and the connection
goes back to the pool; the session begins a new transaction on its next statement, as after any
commit. A transaction that wrote is left alone (its caller decides when it commits).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger("solobot.hooks")

_WROTE = text("SELECT txid_current_if_assigned() IS NOT NULL")


async def release_if_read_only(kwargs: dict[str, Any]) -> bool:
    """End the read-only transaction of ``kwargs["session"]`` (if any); whether a connection was released."""
    session = kwargs.get("session")
    if not isinstance(session, AsyncSession) or not session.in_transaction():
        return False
    if session.new or session.dirty or session.deleted:
        return False  # ORM changes not yet flushed: a write to come
    try:
        if await session.scalar(_WROTE):
            return False
        sync = session.sync_session
        keep, sync.expire_on_commit = sync.expire_on_commit, False  # loaded objects stay usable, as before
        try:
            await session.commit()
        finally:
            sync.expire_on_commit = keep
    except SQLAlchemyError as exc:  # not PostgreSQL, or the connection is broken: the caller's to see
        log.debug("could not release the caller's session before a hook: %s", exc)
        return False
    return True
