"""A short answer to whatever the update was (used when a middleware stops it)."""

from __future__ import annotations

from aiogram.exceptions import TelegramAPIError
from aiogram.types import TelegramObject, Update

from logger import logger


async def short_reply(event: TelegramObject, text: str, alert: bool = False) -> None:
    """Answer a callback query with ``text``, or reply to a private message; other updates stay silent."""
    if not isinstance(event, Update):
        return
    try:
        if event.callback_query is not None:
            await event.callback_query.answer(text, show_alert=alert)
        elif event.message is not None and event.message.chat.type == "private":
            await event.message.answer(text)
    except TelegramAPIError as e:
        logger.debug("short reply failed: %s", e)
