"""What a module process sets up before importing its module, from the host's ``init``.

* the bot: a real aiogram ``Bot`` with the token ``<bot id>:sandbox`` and ``HostBotSession``,
  installed as ``bot.bot``;
* FSM storage: ``HostFSMStorage``;
* the database: ``database.db`` bound to the URL the host handed over the channel (this
  process's own engine and connections), or none when the host runs without a database;
* ``config``: the host's non-secret settings (the environment here is scrubbed).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.types import TelegramObject

from ipc import Peer

from .host_bot_session import HostBotSession
from .host_fsm_storage import HostFSMStorage

log = logging.getLogger("solobot")

# A module process needs few connections: one per update or hook call in flight.
MODULE_POOL = {"pool_size": 2, "max_overflow": 3, "pool_recycle": 1800}


class DatabaseUnavailable(RuntimeError):
    pass


@dataclass
class ModuleContext:
    module: str
    bot: Bot
    storage: HostFSMStorage
    database: bool

    @classmethod
    def from_init(cls, module: str, peer: Peer, params: dict[str, Any]) -> ModuleContext:
        import bot as bot_module

        bot_params = params.get("bot") or {}
        bot = Bot(
            token=f"{int(bot_params.get('id', 0))}:sandbox",
            session=HostBotSession(peer),
            default=DefaultBotProperties(**(bot_params.get("default") or {})),
        )
        bot_module.set_current_bot(bot)
        _apply_settings(params.get("settings") or {})
        _use_host_panels(peer, params.get("panels"))
        database_url = params.get("database_url")
        if database_url:
            from database import db

            db.bind(database_url, **MODULE_POOL)
        return cls(module, bot, HostFSMStorage(peer), bool(database_url))

    def open_session(self) -> Any:
        if not self.database:
            raise DatabaseUnavailable("this bot runs without a database, so modules get no session")
        from database import async_session_maker

        return async_session_maker()

    def bind(self, value: TelegramObject) -> TelegramObject:
        """``value`` with shortcuts (``.answer()``, ``.edit_text()``…) that use this process's bot.

        An object bound already is returned as it is; others are copied bound.
        """
        if value.bot is self.bot:
            return value
        return type(value).model_validate(value.model_dump(), context={"bot": self.bot})

    async def load_keys(self, session: Any, query: Any) -> list[Any]:
        """The key list of ``periodic_notifications``, read here rather than shipped by the host."""
        if query != "non_frozen":
            raise ValueError(f"unknown key query {query!r}")
        from database import get_non_frozen_keys

        return list(await get_non_frozen_keys(session))

    async def create_module_tables(self, tables: list[Any]) -> None:
        """Create the tables the module's ``models.py`` added to ``Base.metadata`` (seed: "created at start")."""
        if not tables or not self.database:
            return
        from database import db
        from database.models import Base

        assert db.engine is not None
        async with db.engine.begin() as connection:
            await connection.run_sync(lambda sync: Base.metadata.create_all(sync, tables=tables))

    async def aclose(self) -> None:
        if self.database:
            from database import db

            await db.dispose()


def _use_host_panels(peer: Peer, granted: Any) -> None:
    """Panels the operator granted this module are reached through the host (``panels.gateway``)."""
    if not granted:
        return
    if not isinstance(granted, list) or not all(isinstance(p, str) for p in granted):
        raise TypeError("init: panels must be a list of panel types")
    from panels import remote

    remote.use_host(lambda call: peer.request("panel", call), granted)


def _apply_settings(values: dict[str, Any]) -> None:
    import config

    config.apply_public_settings(values)
