"""``setWebhook`` at start: Telegram then posts updates to ``WEBHOOK_URL`` with the secret header.

Pending updates are kept (``drop_pending_updates=False``): a restart, or one worker of several
starting, must not lose what users sent meanwhile. Leaving does not delete the webhook — the other
workers behind the same URL keep serving it; polling mode deletes it at its start instead.
"""

from __future__ import annotations

import logging

from aiogram import Bot, Dispatcher

log = logging.getLogger("solobot.webhook")


async def register_webhook(bot: Bot, dispatcher: Dispatcher, *, url: str, secret_token: str) -> list[str]:
    """Point Telegram at ``url`` for the update types some handler uses; returns those types."""
    allowed_updates = dispatcher.resolve_used_update_types()
    await bot.set_webhook(url, secret_token=secret_token, allowed_updates=allowed_updates, drop_pending_updates=False)
    log.info("Telegram webhook set to %s (%d update types)", url, len(allowed_updates))
    return allowed_updates
