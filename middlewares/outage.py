"""When shared state (Redis) is away, the user whose update needed it is asked to retry, once per update.

``shared_state.observed_storage`` raises ``SharedStateUnavailable`` (and logs the outage once); this
errors handler answers the user instead of letting aiogram log a traceback for every update.
"""

from __future__ import annotations

from aiogram import Dispatcher
from aiogram.filters import ExceptionTypeFilter
from aiogram.types import ErrorEvent

from shared_state.outage import SharedStateUnavailable

from . import texts
from .replies import short_reply


async def ask_to_retry(event: ErrorEvent) -> bool:
    await short_reply(event.update, texts.UNAVAILABLE)
    return True  # handled: the outage is logged once by the storage, not per update


def install_outage_answer(dp: Dispatcher) -> None:
    dp.errors.register(ask_to_retry, ExceptionTypeFilter(SharedStateUnavailable))
