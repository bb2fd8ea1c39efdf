"""What the host lends module processes: its bot, FSM storage, a database, settings.

Each part is optional, so the runtime also runs bare (tests of the process model, the
``python -m runtime`` demo of hooks): a module process then gets no bot, no session.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiogram import Bot
from aiogram.fsm.storage.base import BaseStorage

from panels.gateway import PanelGateway
from sandbox.bot_api_policy import BotApiPolicy
from sandbox.bot_api_scope import IsUser, SentRecord

from .bot_gateway import BotGateway
from .core_fsm_storage import CoreFSMStorage
from .fsm_gateway import FSMGateway
from .fsm_quota import FSMLedger


@dataclass
class HostServices:
    bot: Bot | None = None
    fsm_storage: BaseStorage | None = None
    # Counts what each module parks in ``fsm_storage`` (None: in this process; Redis: every worker's).
    fsm_ledger: FSMLedger | None = None
    # The URL a module process connects with. Until per-module roles exist it is the bot's own;
    # it crosses the IPC channel in ``init``, never the environment or argv.
    database_url: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)  # non-secret config (config.public_settings)
    bot_api_policy: BotApiPolicy = field(default_factory=BotApiPolicy)
    # Is a chat id one of this bot's users (modules may send to them)? None: not checked (no database).
    is_user: IsUser | None = None
    # A module's record of the messages it sent (may edit/delete): None: this process's; Redis: every worker's.
    sent_messages: Callable[[str], SentRecord] | None = None
    # Panel calls modules make through the host (granted with ``panels`` in modules.toml).
    panel_gateway: PanelGateway = field(default_factory=PanelGateway)

    def __post_init__(self) -> None:
        self.bot_gateway = (
            BotGateway(self.bot, self.bot_api_policy, self.is_user, self.sent_messages) if self.bot is not None else None
        )
        self.fsm_gateway = (
            FSMGateway(self.fsm_storage, self.bot.id, self.fsm_ledger)
            if self.bot is not None and self.fsm_storage is not None
            else None
        )
        if self.fsm_gateway is not None and isinstance(self.fsm_storage, CoreFSMStorage):
            self.fsm_storage.on_core_clear(self.fsm_gateway.end_module_conversations)

    def init_params(self, module: str) -> dict[str, Any]:
        bot = None
        if self.bot is not None:
            bot = {"id": self.bot.id, "default": _defaults(self.bot)}
        return {"bot": bot, "database_url": self.database_url, "settings": dict(self.settings)}


def _defaults(bot: Bot) -> dict[str, Any]:
    """The bot's default properties (parse mode…), so the module's bot formats like the host's."""
    values = {}
    for name in (
        "parse_mode",
        "disable_notification",
        "protect_content",
        "allow_sending_without_reply",
        "link_preview_is_disabled",
    ):
        value = getattr(bot.default, name, None)
        if value is not None:
            values[name] = value
    return values
