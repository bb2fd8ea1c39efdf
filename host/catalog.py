"""The catalog installer on the running bot (only with CATALOG_URL and CATALOG_PUBLIC_KEY set).

Builds the :class:`installer.Installer` over the host's runtime, tells the admins through the bot
(update notices carry «Обновить»), runs the periodic licence/update check and hands the
installer to the admin screens (the dispatcher's ``catalog`` value) and the control socket.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import InlineKeyboardMarkup

from config import Settings
from installer import Installer
from installer.service import Notify
from runtime import ModuleRuntime
from sandbox.permissions import default_config_path

log = logging.getLogger("solobot")


def admin_notifier(bot: Bot, admin_ids: tuple[int, ...]) -> Notify:
    async def notify(text: str, update_to: tuple[str, str] | None) -> None:
        markup = None
        if update_to is not None:
            from handlers.admin.catalog import update_button

            markup = InlineKeyboardMarkup(inline_keyboard=[[update_button(*update_to)]])
        for admin in admin_ids:
            with contextlib.suppress(TelegramAPIError):  # an admin who never opened the bot cannot be messaged
                await bot.send_message(admin, text, reply_markup=markup, parse_mode=None)

    return notify


def build_installer(settings: Settings, runtime: ModuleRuntime, bot: Bot | None) -> Installer | None:
    if not settings.catalog_enabled:
        return None
    assert settings.catalog_url is not None and settings.catalog_public_key is not None
    return Installer(
        catalog_url=settings.catalog_url,
        public_key=settings.catalog_public_key,
        data_dir=Path(settings.data_dir),
        modules_dir=Path(settings.modules_dir),
        modules_config=default_config_path(),
        admin_ids=tuple(settings.admin_ids),
        bot_id=settings.bot_id,
        runtime=runtime,
        notify=admin_notifier(bot, tuple(settings.admin_ids)) if bot is not None else None,
    )
