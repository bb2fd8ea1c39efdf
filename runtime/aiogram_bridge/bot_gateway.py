"""Run the Bot API methods module processes ask for, with the real bot.

A module's bot sends ``{method, params}`` (``runtime.child.host_bot_session``). Here the method
name is looked up among aiogram's method classes (anything else is refused), the policy is
checked, the parameters are validated by building the aiogram method object (uploaded files
arrive as ``Ref("file", [name, bytes])``), and the real bot runs it. The answer is the result
as Telegram's JSON carries it, or the Telegram error by aiogram class name and message; the
module process turns either back into what aiogram would have given it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import aiogram.methods as _methods
from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramMigrateToChat, TelegramRetryAfter
from aiogram.methods import TelegramMethod
from aiogram.types import BufferedInputFile, TelegramObject
from pydantic import ValidationError

from ipc import Ref
from runtime.calls.module_hook_calls import UpdateContext
from sandbox.bot_api_policy import BotApiPolicy
from sandbox.bot_api_scope import SENDING, IsUser, SentMessages, SentRecord, sent_by_result
from sandbox.bot_api_scope import refusal as scope_refusal

log = logging.getLogger("solobot.runtime")

METHODS: dict[str, type[TelegramMethod[Any]]] = {
    cls.__api_method__: cls
    for cls in vars(_methods).values()
    if isinstance(cls, type) and issubclass(cls, TelegramMethod) and hasattr(cls, "__api_method__")
}


def _sent_here(module: str) -> SentRecord:
    return SentMessages()


class BotGateway:
    def __init__(
        self,
        bot: Bot,
        policy: BotApiPolicy | None = None,
        is_user: IsUser | None = None,
        sent_messages: Callable[[str], SentRecord] | None = None,
    ) -> None:
        self.bot = bot
        self.policy = policy or BotApiPolicy()
        self.is_user = is_user  # is a chat id one of this bot's users? (None: not checked)
        self.sent_messages = sent_messages or _sent_here  # a module's record of what it sent: this process's, or every worker's
        self._sent: dict[str, SentRecord] = {}

    async def call(self, module: str, request: Any, update: UpdateContext | None = None) -> dict[str, Any]:
        """Run one Bot API call of ``module``; ``update``: the forwarded update it is handling, if any."""
        if not (isinstance(request, dict) and isinstance(request.get("method"), str) and isinstance(request.get("params"), dict)):
            return _error("TelegramBadRequest", "Bad Request: a Bot API call is {method, params}")
        name = request["method"]
        cls = METHODS.get(name)
        if cls is None:
            return _error("TelegramNotFound", f"Not Found: method {name[:64]!r} is not a Bot API method")
        refusal = await self.policy.check(module, name)
        if refusal is not None:
            if refusal.kind == "rate_limited":
                log.debug("[module %s] Bot API call rate-limited: %s", module, refusal.message)
                return _error("TelegramRetryAfter", refusal.message, retry_after=refusal.retry_after)
            log.warning("[module %s] Bot API call refused: %s", module, refusal.message)
            return _error("TelegramForbiddenError", refusal.message)
        if not self.policy.is_trusted(module):
            out_of_scope = await scope_refusal(
                module,
                name,
                request["params"],
                sent=self._sent_by(module),
                update_chat=update.chat_id if update else None,
                update_messages=update.messages if update else (),
                update_inline_message=update.inline_message_id if update else None,
                granted_chats=self.policy.chats_of(module),
                is_user=self.is_user,
            )
            if out_of_scope is not None:
                log.warning("[module %s] Bot API call refused: %s", module, out_of_scope)
                return _error("TelegramForbiddenError", out_of_scope)
        try:
            method = cls.model_validate(_files_from_wire(request["params"]))
        except (ValidationError, ValueError, TypeError) as exc:
            return _error("TelegramBadRequest", f"Bad Request: invalid parameters for {name}: {_first_line(exc)}")
        try:
            result = await self.bot(method)
        except TelegramRetryAfter as exc:
            return _error("TelegramRetryAfter", exc.message, retry_after=exc.retry_after)
        except TelegramMigrateToChat as exc:
            return _error("TelegramMigrateToChat", exc.message, migrate_to_chat_id=exc.migrate_to_chat_id)
        except TelegramAPIError as exc:
            return _error(type(exc).__name__, exc.message)
        answer = _jsonable(result)
        if name.startswith(SENDING):
            chat = request["params"].get("chat_id")
            await self._sent_by(module).record(sent_by_result(answer) or _copied(chat, answer))
        return {"result": answer}

    def _sent_by(self, module: str) -> SentRecord:
        sent = self._sent.get(module)
        if sent is None:
            sent = self._sent[module] = self.sent_messages(module)
        return sent


def _copied(chat: Any, result: Any) -> list[tuple[int, int]]:
    """copyMessage(s) answer with message ids only: their chat is the one copied to."""
    items = result if isinstance(result, list) else [result]
    ids = [item.get("message_id") for item in items if isinstance(item, dict)]
    return [(chat, i) for i in ids if type(chat) is int and type(i) is int]


def _files_from_wire(value: Any) -> Any:
    if isinstance(value, Ref):
        if value.kind != "file" or not (isinstance(value.data, list) and len(value.data) == 2):
            raise ValueError(f"unexpected {value.kind!r} reference in Bot API parameters")
        filename, data = value.data
        if not isinstance(filename, str) or not isinstance(data, bytes):
            raise ValueError("a file is [name, bytes]")
        return BufferedInputFile(data, filename=filename[:255])
    if isinstance(value, dict):
        return {k: _files_from_wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_files_from_wire(v) for v in value]
    return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, TelegramObject):
        return value.model_dump(mode="json", exclude_none=True)
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def _error(kind: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"type": kind, "message": message[:1000], **extra}}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return " ".join(text[:3])[:300] if text else type(exc).__name__
