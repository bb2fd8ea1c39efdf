"""aiogram's ``Response[T]`` models, kept for the life of the process.

aiogram parses every Bot API answer with ``Response[method.__returning__]``. pydantic caches a
parametrized model only weakly, so the garbage collector drops it between two calls and the next
call builds it again: milliseconds of schema building inside a handler's Bot API call, every
few hundred calls on a busy bot (seen in the update benchmark's profile: ~8 % of the host's
calls). Holding the model here makes pydantic's own cache find it; the result types a bot sees
are a few dozen at most.
"""

from __future__ import annotations

import functools
from typing import Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.methods import Response, TelegramMethod


@functools.cache
def response_type(returning: Any) -> type[Response[Any]]:
    """``Response[returning]``, built once per process."""
    return Response[returning]


class ResponseTypesKept(AiohttpSession):
    """aiogram's HTTP session whose answers' ``Response[T]`` models are kept (``response_type``)."""

    def check_response(self, bot: Bot, method: TelegramMethod[Any], status_code: int, content: str) -> Response[Any]:
        response_type(method.__returning__)  # alive, so aiogram's own ``Response[...]`` is a cache hit
        return super().check_response(bot, method, status_code, content)
