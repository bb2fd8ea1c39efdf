"""Moved to :mod:`sandbox.bot_api_policy`; this name keeps old imports working."""

from sandbox.bot_api_policy import (
    API_METHODS,
    BOT_WIDE_METHODS,
    DEFAULT_ALLOWED,
    BotApiPolicy,
    Refusal,
)

__all__ = ["API_METHODS", "BOT_WIDE_METHODS", "DEFAULT_ALLOWED", "BotApiPolicy", "Refusal"]
