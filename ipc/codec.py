"""msgpack codec for everything that crosses the host/module boundary.

Supported: None, bool, int, float, str, bytes, lists/tuples (decoded as lists), dicts,
``datetime`` (naive or aware, kept as it was), ``date``, ``Decimal``, enums (sent as their
value) and aiogram ``TelegramObject``s (sent as type name + ``model_dump``, rebuilt with
``model_validate``) and ``Ref``s (a tagged value standing for something that cannot cross
itself, such as the host's database session or an uploaded file). Anything else is a
``CodecError`` naming the type and the path of the offending value, e.g. ``kwargs['session']``.

Decoding is safe on untrusted input: nothing is unpickled or executed, and an object type is
only rebuilt when its name is a ``TelegramObject`` subclass exported by ``aiogram.types``.
"""

from __future__ import annotations

import datetime as _dt
import enum
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import aiogram.types as _tg_types
import msgpack
from aiogram.client.default import Default
from aiogram.types import TelegramObject

from .errors import CodecError

# Extension type codes. They are part of the wire protocol: never renumber.
EXT_DATETIME = 1
EXT_DATE = 2
EXT_DECIMAL = 3
EXT_TELEGRAM = 4
EXT_DEFAULT = 5  # aiogram's Default("parse_mode") placeholder, resolved by the bot that sends
EXT_REF = 6  # Ref(kind, data): each side decides what a kind means; the codec only carries it


@dataclass(frozen=True)
class Ref:
    """A tagged value: ``kind`` says what ``data`` stands for.

    Used for what must be re-made on the other side instead of copied: the host sends
    ``Ref("session")`` for its ``AsyncSession`` and the module process opens its own; a module
    sends ``Ref("file", [name, data])`` for an ``InputFile`` it read. The codec never interprets
    a kind, so adding one never changes the wire format.
    """

    kind: str
    data: Any = None


# A TelegramObject nests further TelegramObjects only as plain dicts (model_dump), so nesting
# of EXT_TELEGRAM inside EXT_TELEGRAM is never produced by us; bound it against hostile input.
_MAX_EXT_DEPTH = 4


def _default(value: Any) -> Any:
    if isinstance(value, _dt.datetime):
        return msgpack.ExtType(EXT_DATETIME, value.isoformat().encode())
    if isinstance(value, _dt.date):
        return msgpack.ExtType(EXT_DATE, value.isoformat().encode())
    if isinstance(value, Decimal):
        return msgpack.ExtType(EXT_DECIMAL, str(value).encode())
    if isinstance(value, enum.Enum):
        # msgpack does not call ``default`` again on what it returns: convert the value here.
        inner = value.value
        return _default(inner) if isinstance(inner, (_dt.date, Decimal, enum.Enum, TelegramObject)) else inner
    if isinstance(value, TelegramObject) and _is_exported(type(value)):
        body = [type(value).__name__, value.model_dump(exclude_none=True)]
        return msgpack.ExtType(EXT_TELEGRAM, _packer().pack(body))
    if isinstance(value, Default):
        return msgpack.ExtType(EXT_DEFAULT, value.name.encode())
    if isinstance(value, Ref):
        return msgpack.ExtType(EXT_REF, _packer().pack([value.kind, value.data]))
    raise TypeError(type(value))


def _is_exported(cls: type) -> bool:
    """Only classes the other side can rebuild by name: those ``aiogram.types`` exports."""
    return getattr(_tg_types, cls.__name__, None) is cls


def _packer() -> msgpack.Packer:
    # datetime=False: our own ext type keeps naive datetimes naive (msgpack's builtin needs tz).
    return msgpack.Packer(default=_default, use_bin_type=True, datetime=False)


def encode(value: Any) -> bytes:
    """Serialize ``value``; raise ``CodecError`` naming the first unsupported value's path."""
    try:
        return _packer().pack(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise CodecError(describe_unsupported(value, "value") or f"cannot encode value: {exc}") from None


def describe_unsupported(value: Any, root: str) -> str | None:
    """A sentence naming the first value inside ``value`` the codec cannot send, if any.

    ``root`` names ``value`` itself: ``describe_unsupported(kwargs, "argument")`` gives
    "cannot send argument['session']: values of type ... cannot cross the module boundary".
    """
    try:
        path, bad = _find_unsupported(value, root)
    except RecursionError:
        return f"cannot send {root}: it is nested too deeply or contains itself"
    if path is None:
        return None
    return f"cannot send {path}: values of type {type(bad).__module__}.{type(bad).__qualname__} cannot cross the module boundary"


def _find_unsupported(value: Any, path: str) -> tuple[str | None, Any]:
    """Walk ``value`` like the packer does and return the path of the first bad leaf."""
    if value is None or isinstance(value, (bool, str, bytes, float, Decimal, _dt.date, enum.Enum, Default)):
        return None, None
    if isinstance(value, Ref):
        return _find_unsupported(value.data, f"{path}<Ref {value.kind}>")
    if isinstance(value, int):
        if -(2**63) <= value < 2**64:
            return None, None
        return path, value
    if isinstance(value, TelegramObject):
        if not _is_exported(type(value)):
            return path, value
        return _find_unsupported(value.model_dump(exclude_none=True), f"{path}<{type(value).__name__}>")
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            found = _find_unsupported(item, f"{path}[{i}]")
            if found[0] is not None:
                return found
        return None, None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _find_unsupported(key, f"{path} key {key!r}")
            if found[0] is not None:
                return found
            found = _find_unsupported(item, f"{path}[{key!r}]")
            if found[0] is not None:
                return found
        return None, None
    return path, value


# Bounds on what one frame may make the receiver allocate: a 1-byte msgpack ``[]`` is a 56-byte
# list, so a 4 MiB frame of them would be ~230 MiB of objects. Containers and their slots count
# against one budget per frame (nested extension payloads included); strings and bytes are
# bounded by the frame cap itself; msgpack's own stack bounds nesting (1024 levels).
MAX_CONTAINER_LEN = 200_000  # elements of one array, entries of one map
MAX_OBJECTS = 1_000_000  # containers plus their elements, per frame


class _Budget:
    __slots__ = ("left",)

    def __init__(self) -> None:
        self.left = MAX_OBJECTS

    def spend(self, count: int) -> None:
        self.left -= count
        if self.left < 0:
            raise CodecError(f"decode bomb: the frame holds more than {MAX_OBJECTS} objects")


def decode(data: bytes) -> Any:
    """Deserialize one frame. Any malformed input, or one over the bounds above, raises ``CodecError``."""
    try:
        return _unpack(data, 0, _Budget())
    except CodecError:
        raise
    except ValueError as exc:
        if "exceeds max_" in str(exc):  # msgpack's own length bounds (MAX_CONTAINER_LEN)
            raise CodecError(f"decode bomb: {exc}") from None
        raise CodecError(f"malformed msgpack: {type(exc).__name__}: {exc}") from None
    except Exception as exc:  # msgpack raises several types for corrupt input
        raise CodecError(f"malformed msgpack: {type(exc).__name__}: {exc}") from None


def _unpack(data: bytes, depth: int, budget: _Budget) -> Any:
    def array(items: list[Any]) -> list[Any]:
        budget.spend(1 + len(items))
        return items

    def mapping(pairs: list[tuple[Any, Any]]) -> dict[Any, Any]:
        budget.spend(1 + 2 * len(pairs))
        return _map(pairs)

    return msgpack.unpackb(
        data,
        raw=False,
        strict_map_key=False,
        use_list=True,
        list_hook=array,
        object_pairs_hook=mapping,
        ext_hook=lambda code, payload: _ext_hook(code, payload, depth, budget),
        max_array_len=MAX_CONTAINER_LEN,
        max_map_len=MAX_CONTAINER_LEN,
    )


def _map(pairs: list[tuple[Any, Any]]) -> dict[Any, Any]:
    # A tuple key crosses as an array; make it hashable again so what encodes also decodes.
    try:
        return dict(pairs)
    except TypeError:
        return {_hashable(key): value for key, value in pairs}


def _hashable(key: Any) -> Any:
    if isinstance(key, list):
        return tuple(_hashable(k) for k in key)
    if isinstance(key, dict):
        raise CodecError("a map cannot be a map key")
    return key


def _ext_hook(code: int, payload: bytes, depth: int, budget: _Budget) -> Any:
    if code == EXT_DATETIME:
        return _dt.datetime.fromisoformat(payload.decode())
    if code == EXT_DATE:
        return _dt.date.fromisoformat(payload.decode())
    if code == EXT_DECIMAL:
        try:
            return Decimal(payload.decode())
        except InvalidOperation:
            raise CodecError(f"bad Decimal {payload[:40]!r}") from None
    if code == EXT_TELEGRAM:
        if depth >= _MAX_EXT_DEPTH:
            raise CodecError("TelegramObject nesting too deep")
        body = _unpack(payload, depth + 1, budget)
        if not (isinstance(body, list) and len(body) == 2 and isinstance(body[0], str)):
            raise CodecError("bad TelegramObject envelope")
        name, fields = body
        return telegram_type(name).model_validate(fields)
    if code == EXT_DEFAULT:
        return Default(payload.decode())
    if code == EXT_REF:
        if depth >= _MAX_EXT_DEPTH:
            raise CodecError("Ref nesting too deep")
        body = _unpack(payload, depth + 1, budget)
        if not (isinstance(body, list) and len(body) == 2 and isinstance(body[0], str)):
            raise CodecError("bad Ref envelope")
        return Ref(body[0], body[1])
    raise CodecError(f"unknown msgpack extension type {code}")


def telegram_type(name: str) -> type[TelegramObject]:
    """The ``aiogram.types`` class called ``name``; anything else is a ``CodecError``."""
    cls = getattr(_tg_types, name, None) if name.isidentifier() else None
    if not (isinstance(cls, type) and issubclass(cls, TelegramObject)):
        raise CodecError(f"{name!r} is not an aiogram.types TelegramObject")
    return cls
