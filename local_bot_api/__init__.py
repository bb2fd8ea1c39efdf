"""A local fake Telegram Bot API server for end-to-end tests and demos of aiogram bots."""

from .driver import MessageView, SimulatedUser
from .server import LocalBotAPI

__all__ = ("LocalBotAPI", "MessageView", "SimulatedUser")
