"""An aiogram session that sends every Bot API method to the host instead of to Telegram.

The module's ``Bot`` is a real aiogram ``Bot`` (so ``message.answer``, ``callback.answer``,
``bot.send_photo`` and friends work unchanged) built with this session and the token
``<bot id>:sandbox``; the real token never enters a module process. The host checks the
module's policy, runs the method with the real bot and answers with the result as Telegram's
JSON would carry it, or with the Telegram error, which is re-raised here as the same aiogram
exception class.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramConflictError,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import InputFile

from ipc import Peer, Ref
from runtime.aiogram_bridge.response_types import response_type

from .update_in_hand import HANDLING_UPDATE

_ERRORS: dict[str, type[TelegramAPIError]] = {
    cls.__name__: cls
    for cls in (
        TelegramBadRequest,
        TelegramConflictError,
        TelegramEntityTooLarge,
        TelegramForbiddenError,
        TelegramNetworkError,
        TelegramNotFound,
        TelegramServerError,
        TelegramUnauthorizedError,
    )
}

# A file crosses to the host in one IPC frame (4 MiB cap), with the rest of the call.
MAX_UPLOAD = 4 * 1024 * 1024 - 64 * 1024


class HostBotSession(BaseSession):
    def __init__(self, peer: Peer) -> None:
        super().__init__()
        self._peer = peer

    async def make_request(self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None) -> TelegramType:
        params = {name: value for name, value in method.model_dump(warnings=False).items() if value is not None}
        if _holds_a_file(params):
            params = await _wire_value(params, bot)
        request_timeout = None if timeout is None else float(timeout) + 5.0
        request = {"method": method.__api_method__, "params": params, "update_id": HANDLING_UPDATE.get()}
        reply = await self._peer.request("bot_api", request, timeout=request_timeout)
        if "error" in reply:
            raise _telegram_error(method, reply["error"])
        response = response_type(method.__returning__).model_validate(
            {"ok": True, "result": reply.get("result")}, context={"bot": bot}
        )
        return response.result  # type: ignore[return-value]

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        raise TelegramForbiddenError(method=None, message="Forbidden: downloading files is not available to modules")  # type: ignore[arg-type]
        yield b""  # pragma: no cover - makes this an async generator like the base class

    async def close(self) -> None:
        return None


def _holds_a_file(value: Any) -> bool:
    if isinstance(value, InputFile):
        return True
    if isinstance(value, dict):
        return any(_holds_a_file(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_holds_a_file(v) for v in value)
    return False


async def _wire_value(value: Any, bot: Bot) -> Any:
    """``model_dump`` leaves input files and Default placeholders as objects: make them sendable."""
    if isinstance(value, InputFile):
        data = bytearray()
        async for chunk in value.read(bot):
            data += chunk
            if len(data) > MAX_UPLOAD:
                limit = f"a module may upload at most {MAX_UPLOAD // 1024} KiB per file"
                raise TelegramEntityTooLarge(method=None, message=f"Request Entity Too Large: {limit}")  # type: ignore[arg-type]
        return Ref("file", [value.filename or "file", bytes(data)])
    if isinstance(value, dict):
        return {k: await _wire_value(v, bot) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [await _wire_value(v, bot) for v in value]
    return value


def _telegram_error(method: TelegramMethod[Any], error: Any) -> TelegramAPIError:
    if not isinstance(error, dict):
        return TelegramBadRequest(method=method, message=f"the host refused the call: {error!r:.200}")
    kind, message = str(error.get("type")), str(error.get("message", ""))
    if kind == "TelegramRetryAfter":
        return TelegramRetryAfter(method=method, message=message, retry_after=int(error.get("retry_after") or 1))
    if kind == "TelegramMigrateToChat":
        return TelegramMigrateToChat(method=method, message=message, migrate_to_chat_id=int(error.get("migrate_to_chat_id") or 0))
    return _ERRORS.get(kind, TelegramBadRequest)(method=method, message=message)
