"""The five message kinds of the wire protocol and their validation.

A frame's payload is a msgpack array whose first element is the kind:

    [REQUEST,  id, method, params]
    [RESPONSE, id, result]
    [ERROR,    id, kind, message, traceback]
    [NOTIFY,   method, params]
    [CANCEL,   id]

Request ids are per direction: each side numbers its own requests from 1, so the two
directions never collide and each side can tell a late answer from a forged one.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from .errors import ProtocolError

PROTOCOL_VERSION = 1

REQUEST = 0
RESPONSE = 1
ERROR = 2
NOTIFY = 3
CANCEL = 4

# Bounds on what an untrusted peer may put in an error message (the traceback is shown to
# operators, so it is worth keeping, but not unbounded).
MAX_ERROR_KIND = 200
MAX_ERROR_MESSAGE = 4_000
MAX_TRACEBACK = 32_000
MAX_METHOD = 100


# NamedTuples rather than frozen dataclasses: as immutable, and built several times faster
# (every request and answer makes one on each side).


class Request(NamedTuple):
    id: int
    method: str
    params: Any


class Response(NamedTuple):
    id: int
    result: Any


class Error(NamedTuple):
    id: int
    kind: str
    message: str
    traceback: str


class Notify(NamedTuple):
    method: str
    params: Any


class Cancel(NamedTuple):
    id: int


Message = Request | Response | Error | Notify | Cancel


def to_wire(msg: Message) -> list[Any]:
    """The msgpack array for ``msg``."""
    kind = _KIND_OF.get(type(msg))
    if kind is None:
        raise TypeError(f"not a message: {msg!r}")
    return [kind, *msg]


_KIND_OF: dict[type, int] = {Request: REQUEST, Response: RESPONSE, Error: ERROR, Notify: NOTIFY, Cancel: CANCEL}


def from_wire(raw: Any) -> Message:
    """Validate a decoded frame; anything off-shape is a ``ProtocolError``."""
    if not isinstance(raw, list) or not raw or type(raw[0]) is not int:
        raise ProtocolError(f"a message must be an array starting with its kind, got {_brief(raw)}")
    kind, size = raw[0], len(raw)
    if kind == RESPONSE and size == 3:  # the commonest first
        return Response(_id(raw[1]), raw[2])
    if kind == REQUEST and size == 4:
        return Request(_id(raw[1]), _method(raw[2]), raw[3])
    args = raw[1:]
    if kind == ERROR and len(args) == 4:
        return Error(
            _id(args[0]),
            _text(args[1], MAX_ERROR_KIND, "error kind"),
            _text(args[2], MAX_ERROR_MESSAGE, "error message"),
            _text(args[3], MAX_TRACEBACK, "traceback"),
        )
    if kind == NOTIFY and len(args) == 2:
        return Notify(_method(args[0]), args[1])
    if kind == CANCEL and len(args) == 1:
        return Cancel(_id(args[0]))
    raise ProtocolError(f"unknown message kind {kind} with {size - 1} fields")


def _id(value: Any) -> int:
    if type(value) is not int or value <= 0:
        raise ProtocolError(f"a request id must be a positive integer, got {_brief(value)}")
    return value


def _method(value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_METHOD:
        raise ProtocolError(f"a method name must be a short string, got {_brief(value)}")
    return value


def _text(value: Any, limit: int, what: str) -> str:
    if not isinstance(value, str):
        raise ProtocolError(f"{what} must be a string, got {_brief(value)}")
    return value if len(value) <= limit else value[:limit] + "… [truncated]"


def _brief(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
