"""Telegram objects on the IPC channel: the runtime's extensions to the generic ``ipc`` codec.

A Telegram object crosses in one form, whichever way it goes (an update for a module's router,
a hook's ``callback``/``message`` argument, a fast flow's event, a keyboard a hook returns):
extension 4 carrying ``[type name, model_dump(exclude_none=True)]``. The receiver rebuilds it
with ``model_validate``. An ``Update`` (what a module's dispatcher is fed) is rebuilt once,
bound to the receiving process's bot with everything in it, as aiogram's polling does, so
``message.answer()`` works without another copy; other objects arrive unbound and are bound
where a handler receives them (``runtime.child.call_scope``): a button another module returned
must stay a plain value (deep-copying a bound one would copy the bot). An ``InlineKeyboardBuilder``
(what hooks often return) crosses as the ``InlineKeyboardMarkup`` it builds. Only classes exported by
``aiogram.types`` are rebuilt by name (anything else is a ``CodecError``): the name comes from
an untrusted process.

aiogram's ``Default("parse_mode")`` placeholder crosses as extension 5 and is resolved by the
bot that finally sends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiogram.types as _tg_types
from aiogram import Bot
from aiogram.client.default import Default
from aiogram.types import TelegramObject
from aiogram.utils.keyboard import InlineKeyboardBuilder

from ipc.codec import Codec
from ipc.errors import CodecError

# Extension type codes. They are part of the wire protocol: never renumber.
EXT_TELEGRAM = 4
EXT_DEFAULT = 5


BOUND_ON_ARRIVAL = frozenset({"Update"})


class TelegramObjects:
    """Extension 4. ``bot``: the bot an arriving ``Update`` is bound to (the module's own)."""

    code = EXT_TELEGRAM

    def __init__(self, bot: Callable[[], Bot | None] | None = None) -> None:
        self._bot = bot

    def owns(self, value: Any) -> bool:
        return isinstance(value, (TelegramObject, InlineKeyboardBuilder))

    def pack(self, value: TelegramObject | InlineKeyboardBuilder, codec: Codec) -> bytes:
        value = _as_sent(value)
        if not _is_exported(type(value)):
            raise TypeError(type(value))
        return codec.pack_nested([type(value).__name__, value.model_dump(exclude_none=True)])

    def unpack(self, payload: bytes, unpack_nested: Callable[[bytes], Any]) -> TelegramObject:
        body = unpack_nested(payload)
        if not (isinstance(body, list) and len(body) == 2 and isinstance(body[0], str)):
            raise CodecError("bad TelegramObject envelope")
        name, fields = body
        cls = telegram_type(name)
        bot = self._bot() if self._bot is not None and name in BOUND_ON_ARRIVAL else None
        return cls.model_validate(fields, context={"bot": bot} if bot is not None else None)

    def problem(self, value: TelegramObject | InlineKeyboardBuilder, path: str, codec: Codec) -> tuple[str | None, Any]:
        value = _as_sent(value)
        if not _is_exported(type(value)):
            return path, value
        return codec.find_unsupported(value.model_dump(exclude_none=True), f"{path}<{type(value).__name__}>")


class DefaultPlaceholders:
    """Extension 5: ``Default("parse_mode")`` and the like, resolved by the bot that sends."""

    code = EXT_DEFAULT

    def owns(self, value: Any) -> bool:
        return isinstance(value, Default)

    def pack(self, value: Default, codec: Codec) -> bytes:
        return value.name.encode()

    def unpack(self, payload: bytes, unpack_nested: Callable[[bytes], Any]) -> Default:
        return Default(payload.decode())

    def problem(self, value: Default, path: str, codec: Codec) -> tuple[str | None, Any]:
        return None, None


def telegram_codec(bot: Callable[[], Bot | None] | None = None) -> Codec:
    """The codec of a host↔module channel; ``bot`` gives the bot an arriving ``Update`` is bound to."""
    return Codec([TelegramObjects(bot), DefaultPlaceholders()])


def telegram_type(name: str) -> type[TelegramObject]:
    """The ``aiogram.types`` class called ``name``; anything else is a ``CodecError``."""
    cls = _TYPES_BY_NAME.get(name)
    if cls is None:
        raise CodecError(f"{name[:100]!r} is not an aiogram.types TelegramObject")
    return cls


def _as_sent(value: TelegramObject | InlineKeyboardBuilder) -> TelegramObject:
    """The object that crosses for ``value``: a hook may return a builder, and its keyboard crosses."""
    return value.as_markup() if isinstance(value, InlineKeyboardBuilder) else value


def _is_exported(cls: type) -> bool:
    """Only classes the other side can rebuild by name: those ``aiogram.types`` exports."""
    return _TYPES_BY_NAME.get(cls.__name__) is cls


# What a name from the other side may rebuild (looked up per object, so a table, not getattr).
_TYPES_BY_NAME: dict[str, type[TelegramObject]] = {
    name: cls
    for name, cls in vars(_tg_types).items()
    if name.isidentifier() and isinstance(cls, type) and issubclass(cls, TelegramObject)
}

# The host's side of every channel: objects arriving from modules are not bound to the real bot
# (the host never runs a module's shortcuts).
HOST_CODEC = telegram_codec()
