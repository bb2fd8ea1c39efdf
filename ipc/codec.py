"""msgpack codec for everything that crosses the host/module boundary.

Built in: None, bool, int, float, str, bytes, lists/tuples (decoded as lists), dicts,
``datetime`` (naive or aware, kept as it was), ``date``, ``Decimal``, enums (sent as their
value) and ``Ref`` (a tagged value standing for something that cannot cross itself, such as
the host's database session or an uploaded file). A ``Codec`` may add ``Extension``s for more
types: the runtime adds aiogram's Telegram objects (``runtime.aiogram_bridge.telegram_codec``),
so this wire layer knows nothing of aiogram. Anything else is a ``CodecError`` naming the type
and the path of the offending value, e.g. ``kwargs['session']``.

Decoding is safe on untrusted input: nothing is unpickled or executed; an extension decides
what its payload may rebuild.
"""

from __future__ import annotations

import datetime as _dt
import enum
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

import msgpack

from .errors import CodecError

# Extension type codes. They are part of the wire protocol: never renumber.
EXT_DATETIME = 1
EXT_DATE = 2
EXT_DECIMAL = 3
# 4 and 5 belong to the runtime's Telegram extensions (runtime.aiogram_bridge.telegram_codec).
EXT_REF = 6  # Ref(kind, data): each side decides what a kind means; the codec only carries it

# An extension payload may nest further extension values (a Ref holding a Telegram object);
# bound the nesting against hostile input.
MAX_EXT_DEPTH = 4
# Types whose converter the encoder remembers (a process has few; the bound is against one that
# makes classes at run time).
MAX_REMEMBERED_TYPES = 256


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


@dataclass(frozen=True)
class Encoded:
    """Request parameters already encoded with the channel's codec (``Codec.encode``).

    A hook fanned out to ten modules sends the same parameters ten times: encoded once (a
    Telegram object among them costs a ``model_dump``), each request only adds its own id.
    Only ``Peer.call`` takes it, as ``params``.
    """

    data: bytes


class Extension(Protocol):
    """One more type the codec can carry, as msgpack extension ``code``."""

    code: int

    def owns(self, value: Any) -> bool:
        """Whether ``value`` is this extension's to encode, decided by its type alone: the codec
        remembers the answer for the type."""

    def pack(self, value: Any, codec: Codec) -> bytes:
        """The payload for ``value`` (``codec.pack_nested`` for structured payloads)."""

    def unpack(self, payload: bytes, unpack_nested: Callable[[bytes], Any]) -> Any:
        """``value`` back from an untrusted payload; ``CodecError`` if it is not one.

        ``unpack_nested`` decodes a structured payload with this codec, within the frame's bounds.
        """

    def problem(self, value: Any, path: str, codec: Codec) -> tuple[str | None, Any]:
        """``(path, bad value)`` of the first value inside ``value`` that cannot be sent, or ``(None, None)``."""


class Codec:
    """An encoder/decoder pair for one channel: the built-in types plus ``extensions``."""

    def __init__(self, extensions: Sequence[Extension] = ()) -> None:
        self.extensions = tuple(extensions)
        self._by_code = {ext.code: ext for ext in self.extensions}
        # One packer for whole frames (built once: building one costs more than packing a small
        # frame); extension payloads, packed while it is busy, get their own (``pack_nested``).
        self._frame_packer = self._packer()
        self._converters: dict[type, Callable[[Any], Any]] = {}  # how a type msgpack lacks is packed
        # unpackb's arguments for an uncounted frame, per extension depth (built once: they cost
        # about as much as decoding a small frame).
        self._uncounted = [
            {"ext_hook": functools.partial(self._ext_hook, depth=depth, budget=None), **_UNPACK_OPTIONS}
            for depth in range(MAX_EXT_DEPTH + 1)
        ]
        reserved = {EXT_DATETIME, EXT_DATE, EXT_DECIMAL, EXT_REF}
        if len(self._by_code) != len(self.extensions) or reserved & set(self._by_code):
            raise ValueError("extension codes must be unique and not those of the built-in types")

    # ------------------------------------------------------------------ encoding

    def encode(self, value: Any) -> bytes:
        """Serialize ``value``; raise ``CodecError`` naming the first unsupported value's path."""
        try:
            return self._frame_packer.pack(value)  # msgpack resets its buffer when packing fails
        except (TypeError, ValueError, OverflowError) as exc:
            raise CodecError(self.describe_unsupported(value, "value") or f"cannot encode value: {exc}") from None

    def pack_nested(self, value: Any) -> bytes:
        """For extensions: ``value`` packed with this codec (raises what msgpack raises)."""
        return self._packer().pack(value)

    def _packer(self) -> msgpack.Packer:
        # datetime=False: our own ext type keeps naive datetimes naive (msgpack's builtin needs tz).
        return msgpack.Packer(default=self._default, use_bin_type=True, datetime=False)

    def _default(self, value: Any) -> Any:
        """msgpack's hook for a value it cannot pack itself: the converter for its type, found once."""
        convert = self._converters.get(type(value))
        if convert is None:
            convert = self._converter_for(value)  # TypeError: nothing carries it
            if len(self._converters) < MAX_REMEMBERED_TYPES:
                self._converters[type(value)] = convert
        return convert(value)

    def _converter_for(self, value: Any) -> Callable[[Any], Any]:
        if isinstance(value, _dt.datetime):  # before date: a datetime is a date
            return _pack_datetime
        if isinstance(value, _dt.date):
            return _pack_date
        if isinstance(value, Decimal):
            return _pack_decimal
        if isinstance(value, enum.Enum):
            return self._pack_enum
        if isinstance(value, Ref):
            return self._pack_ref
        for ext in self.extensions:
            if ext.owns(value):
                return functools.partial(self._pack_extension, ext)
        raise TypeError(type(value))

    def _pack_enum(self, value: enum.Enum) -> Any:
        # msgpack does not call ``default`` again on what it returns: convert the value here.
        inner = value.value
        try:
            return self._default(inner)  # a date, a Decimal, an extension's type...
        except TypeError:
            return inner  # a type msgpack packs itself

    def _pack_ref(self, value: Ref) -> msgpack.ExtType:
        return msgpack.ExtType(EXT_REF, self.pack_nested([value.kind, value.data]))

    def _pack_extension(self, ext: Extension, value: Any) -> msgpack.ExtType:
        return msgpack.ExtType(ext.code, ext.pack(value, self))

    def describe_unsupported(self, value: Any, root: str) -> str | None:
        """A sentence naming the first value inside ``value`` the codec cannot send, if any.

        ``root`` names ``value`` itself: ``describe_unsupported(kwargs, "argument")`` gives
        "cannot send argument['session']: values of type ... cannot cross the module boundary".
        """
        try:
            path, bad = self.find_unsupported(value, root)
        except RecursionError:
            return f"cannot send {root}: it is nested too deeply or contains itself"
        if path is None:
            return None
        kind = f"{type(bad).__module__}.{type(bad).__qualname__}"
        return f"cannot send {path}: values of type {kind} cannot cross the module boundary"

    def find_unsupported(self, value: Any, path: str) -> tuple[str | None, Any]:
        """Walk ``value`` like the packer does and return the path of the first bad leaf."""
        if value is None or isinstance(value, (bool, str, bytes, float, Decimal, _dt.date, enum.Enum)):
            return None, None
        if isinstance(value, Ref):
            return self.find_unsupported(value.data, f"{path}<Ref {value.kind}>")
        if isinstance(value, int):
            return (None, None) if -(2**63) <= value < 2**64 else (path, value)
        if isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                found = self.find_unsupported(item, f"{path}[{i}]")
                if found[0] is not None:
                    return found
            return None, None
        if isinstance(value, dict):
            for key, item in value.items():
                found = self.find_unsupported(key, f"{path} key {key!r}")
                if found[0] is not None:
                    return found
                found = self.find_unsupported(item, f"{path}[{key!r}]")
                if found[0] is not None:
                    return found
            return None, None
        for ext in self.extensions:
            if ext.owns(value):
                return ext.problem(value, path, self)
        return path, value

    # ------------------------------------------------------------------ decoding

    def decode(self, data: bytes | memoryview) -> Any:
        """Deserialize one frame. Any malformed input, or one over the bounds below, raises ``CodecError``."""
        if len(data) <= UNCOUNTED_FRAME:
            try:
                return self._unpack(data, 0, None)
            except Exception:  # decoded again below, for the error it deserves (or a tuple key)
                pass
        try:
            return self._unpack(data, 0, _Budget())
        except CodecError:
            raise
        except ValueError as exc:
            if "exceeds max_" in str(exc):  # msgpack's own length bounds (MAX_CONTAINER_LEN)
                raise CodecError(f"decode bomb: {exc}") from None
            raise CodecError(f"malformed msgpack: {type(exc).__name__}: {exc}") from None
        except Exception as exc:  # msgpack raises several types for corrupt input
            raise CodecError(f"malformed msgpack: {type(exc).__name__}: {exc}") from None

    def _unpack(self, data: bytes | memoryview, depth: int, budget: _Budget | None) -> Any:
        """Decode ``data``; ``budget`` None: uncounted, for a frame too small to exceed it (``UNCOUNTED_FRAME``)."""
        if depth > MAX_EXT_DEPTH:
            raise CodecError("extension values nested too deep")
        if budget is None:
            return msgpack.unpackb(data, **self._uncounted[depth])
        # A Python call per container, only where the count can matter.

        def array(items: list[Any]) -> list[Any]:
            budget.spend(1 + len(items))
            return items

        def mapping(pairs: list[tuple[Any, Any]]) -> dict[Any, Any]:
            budget.spend(1 + 2 * len(pairs))
            return _map(pairs)

        return msgpack.unpackb(
            data,
            ext_hook=lambda code, payload: self._ext_hook(code, payload, depth, budget),
            list_hook=array,
            object_pairs_hook=mapping,
            **_UNPACK_OPTIONS,
        )

    def _ext_hook(self, code: int, payload: bytes, depth: int, budget: _Budget | None) -> Any:
        if code == EXT_DATETIME:
            return _dt.datetime.fromisoformat(payload.decode())
        if code == EXT_DATE:
            return _dt.date.fromisoformat(payload.decode())
        if code == EXT_DECIMAL:
            try:
                return Decimal(payload.decode())
            except InvalidOperation:
                raise CodecError(f"bad Decimal {payload[:40]!r}") from None
        if code == EXT_REF:
            body = self._unpack(payload, depth + 1, budget)
            if not (isinstance(body, list) and len(body) == 2 and isinstance(body[0], str)):
                raise CodecError("bad Ref envelope")
            return Ref(body[0], body[1])
        ext = self._by_code.get(code)
        if ext is None:
            raise CodecError(f"unknown msgpack extension type {code}")
        return ext.unpack(payload, lambda nested: self._unpack(nested, depth + 1, budget))


# Bounds on what one frame may make the receiver allocate: a 1-byte msgpack ``[]`` is a 56-byte
# list, so a 4 MiB frame of them would be ~230 MiB of objects. Containers and their slots count
# against one budget per frame (nested extension payloads included); strings and bytes are
# bounded by the frame cap itself; msgpack's own stack bounds nesting (1024 levels).
MAX_CONTAINER_LEN = 200_000  # elements of one array, entries of one map
MAX_OBJECTS = 1_000_000  # containers plus their elements, per frame
# Every object counted is a container (counted once for itself) or an element of one, and each
# takes at least one byte of the frame (a nested extension payload's bytes are the frame's too):
# a frame of n bytes spends at most 2n. Frames up to this size are decoded without counting.
UNCOUNTED_FRAME = MAX_OBJECTS // 2


class _Budget:
    __slots__ = ("left",)

    def __init__(self) -> None:
        self.left = MAX_OBJECTS

    def spend(self, count: int) -> None:
        self.left -= count
        if self.left < 0:
            raise CodecError(f"decode bomb: the frame holds more than {MAX_OBJECTS} objects")


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


_UNPACK_OPTIONS: dict[str, Any] = {
    "raw": False,
    "strict_map_key": False,
    "use_list": True,
    "max_array_len": MAX_CONTAINER_LEN,
    "max_map_len": MAX_CONTAINER_LEN,
}


def _pack_datetime(value: _dt.datetime) -> msgpack.ExtType:
    return msgpack.ExtType(EXT_DATETIME, value.isoformat().encode())


def _pack_date(value: _dt.date) -> msgpack.ExtType:
    return msgpack.ExtType(EXT_DATE, value.isoformat().encode())


def _pack_decimal(value: Decimal) -> msgpack.ExtType:
    return msgpack.ExtType(EXT_DECIMAL, str(value).encode())


# The codec without extensions: what ``ipc`` alone can carry.
GENERIC = Codec()
encode = GENERIC.encode
decode = GENERIC.decode
describe_unsupported = GENERIC.describe_unsupported
