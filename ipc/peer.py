"""The RPC peer both sides of a channel use.

One ``Peer`` wraps one connected stream socket. Frames are a 4-byte big-endian length and a
msgpack payload (``ipc.codec``; the channel's ``Codec`` says which extra types it carries),
capped at ``max_frame`` bytes. The peer

* sends requests and matches answers by id (ids are per direction);
* serves incoming requests concurrently, each in its own task that the peer owns, so a
  handler that calls back into the other side while that side waits on it cannot deadlock;
  the task's first step runs at once (``first_step``), so a handler that never suspends is
  answered within the callback that read its frame;
* turns any breach of the protocol (malformed msgpack, unknown kind, oversized frame, an
  answer to an id it never issued, a duplicate request id) into closing this channel only:
  every outstanding request fails at once with ``PeerClosed`` carrying the reason.

It is built on ``asyncio.Protocol`` rather than streams: the reader never awaits, so a slow
handler can never delay the frames behind it, and the hot path is one ``write`` per message.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

from . import messages
from .codec import GENERIC, Codec, Encoded
from .errors import CodecError, PeerClosed, ProtocolError, RemoteError
from .first_step import run_first_step
from .messages import Cancel, Error, Notify, Request, Response

log = logging.getLogger("solobot.ipc")

DEFAULT_MAX_FRAME = 4 * 1024 * 1024
FRAMES_PER_TURN = 64  # frames decoded in one callback before the event loop gets a turn
_HEADER = struct.Struct(">I")

RequestHandler = Callable[[str, Any], Awaitable[Any]]
NotifyHandler = Callable[[str, Any], None]


class OutgoingCall:
    """One request in flight: await ``future``; ``cancel()`` also tells the other side.

    ``sent_at`` / ``answered_at`` (``time.perf_counter``): when the request was written and when
    its answer was read, so a caller can time the other side without a callback per call.
    """

    __slots__ = ("_peer", "answered_at", "future", "id", "sent_at")

    def __init__(self, peer: Peer, id: int, future: asyncio.Future[Any]) -> None:
        self._peer = peer
        self.id = id
        self.future = future
        self.sent_at = time.perf_counter()
        self.answered_at: float | None = None

    def cancel(self) -> None:
        if self._peer._pending.pop(self.id, None) is not None and not self._peer.is_closed:
            self._peer._send(Cancel(self.id))
        self.future.cancel()


class Peer(asyncio.Protocol):
    """One end of a msgpack RPC channel. Create it with ``await Peer.connect(sock, ...)``."""

    def __init__(
        self,
        name: str,
        on_request: RequestHandler,
        on_notify: NotifyHandler | None = None,
        *,
        max_frame: int = DEFAULT_MAX_FRAME,
        codec: Codec = GENERIC,
    ) -> None:
        self.name = name
        self.codec = codec
        self.max_frame = max_frame
        self._on_request = on_request
        self._on_notify = on_notify
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._reading_paused = False
        self._frames_scheduled = False
        self._last_id = 0
        self._pending: dict[int, OutgoingCall] = {}
        self._serving: dict[int, asyncio.Task[None]] = {}
        self._close_reason: str | None = None
        self.protocol_error: str | None = None
        self.closed: asyncio.Future[str] = self._loop.create_future()
        self.late_answers = 0

    @classmethod
    async def connect(
        cls,
        sock: socket.socket,
        name: str,
        on_request: RequestHandler,
        on_notify: NotifyHandler | None = None,
        *,
        max_frame: int = DEFAULT_MAX_FRAME,
        codec: Codec = GENERIC,
    ) -> Peer:
        peer = cls(name, on_request, on_notify, max_frame=max_frame, codec=codec)
        await asyncio.get_running_loop().connect_accepted_socket(lambda: peer, sock=sock)
        return peer

    # ----------------------------------------------------------------- sending

    @property
    def is_closed(self) -> bool:
        return self._close_reason is not None

    @property
    def waiting_count(self) -> int:
        """Requests this side sent whose answers have not come yet."""
        return len(self._pending)

    @property
    def serving_count(self) -> int:
        """Incoming requests whose handlers are still running."""
        return len(self._serving)

    @property
    def close_reason(self) -> str | None:
        return self._close_reason

    def call(self, method: str, params: Any = None) -> OutgoingCall:
        """Send a request now; the returned call's future gets the answer.

        ``params`` may be ``Encoded`` (by this channel's codec). Raises ``PeerClosed`` if the
        channel is closed and ``CodecError`` if ``params`` cannot be encoded (nothing is sent then).
        """
        if self._close_reason is not None:
            raise PeerClosed(self._close_reason)
        self._last_id += 1
        call_id = self._last_id
        self._send(Request(call_id, method, params))
        call = self._pending[call_id] = OutgoingCall(self, call_id, self._loop.create_future())
        return call

    async def request(self, method: str, params: Any = None, *, timeout: float | None = None) -> Any:
        """Send a request and wait for its answer; on timeout or cancellation tell the peer."""
        call = self.call(method, params)
        try:
            async with asyncio.timeout(timeout):
                return await call.future
        except BaseException:
            call.cancel()
            raise

    def notify(self, method: str, params: Any = None) -> None:
        """Fire-and-forget message; silently dropped once the channel is closed."""
        if self._close_reason is None:
            self._send(Notify(method, params))

    def _send(self, msg: messages.Message) -> None:
        if type(msg) is Request and type(msg.params) is Encoded:
            # The array's last element packed as nil (one byte), replaced by the encoded parameters.
            payload = self.codec.encode([messages.REQUEST, msg.id, msg.method, None])[:-1] + msg.params.data
        else:
            payload = self.codec.encode(messages.to_wire(msg))
        if len(payload) > self.max_frame:
            raise CodecError(f"message of {len(payload)} bytes exceeds the {self.max_frame}-byte frame cap")
        assert self._transport is not None
        self._transport.write(_HEADER.pack(len(payload)) + payload)

    # ----------------------------------------------------------------- closing

    def close(self, reason: str = "closed locally") -> None:
        """Close the channel: fail outstanding requests, cancel running handlers. Idempotent."""
        if self._close_reason is not None:
            return
        self._close_reason = reason
        if self._transport is not None:
            self._transport.abort()
        error = PeerClosed(reason)
        for call in self._pending.values():
            if not call.future.done():
                call.future.set_exception(error)
        self._pending.clear()
        for task in self._serving.values():
            task.cancel()
        if not self.closed.done():
            self.closed.set_result(reason)

    def _protocol_error(self, detail: str) -> None:
        self.protocol_error = detail
        self.close(f"protocol error: {detail}")

    # ------------------------------------------------------- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.close(f"connection lost: {exc}" if exc else "connection closed by the other side")

    def eof_received(self) -> bool:
        self.close("connection closed by the other side")
        return False

    def data_received(self, data: bytes) -> None:
        if not self._buffer and not self._frames_scheduled and self._close_reason is None:
            # The common case, one whole frame in one read: decode it from ``data`` itself
            # instead of copying it into the buffer and out again.
            size = len(data) - 4
            if size >= 0 and _HEADER.unpack_from(data)[0] == size and size <= self.max_frame:
                self._receive(memoryview(data)[4:])
                return
        self._buffer += data
        self._read_frames()

    def _read_frames(self) -> None:
        """Decode and dispatch the complete frames buffered, at most ``FRAMES_PER_TURN`` at a time.

        A peer that sends thousands of frames at once (a module flooding its log) would otherwise
        hold the event loop for one long callback: after a turn's worth, reading pauses and the
        rest waits for the loop's next round, so every other channel and task gets its turn.
        """
        self._frames_scheduled = False
        buffer = self._buffer
        start = handled = 0
        try:
            while self._close_reason is None and len(buffer) - start >= 4:
                (size,) = _HEADER.unpack_from(buffer, start)
                if size > self.max_frame:
                    self._protocol_error(f"frame of {size} bytes exceeds the {self.max_frame}-byte cap")
                    return
                if len(buffer) - start < 4 + size:
                    break
                if handled == FRAMES_PER_TURN:
                    self._pause_for_a_turn()
                    return
                payload = bytes(buffer[start + 4 : start + 4 + size])
                start += 4 + size
                handled += 1
                if not self._receive(payload):
                    return
        finally:
            del buffer[:start]  # once per turn, not once per frame
        if self._reading_paused and self._transport is not None and self._close_reason is None:
            self._reading_paused = False
            self._transport.resume_reading()

    def _receive(self, payload: bytes | memoryview) -> bool:
        """Decode and dispatch one frame's payload; False when it broke the protocol (now closed)."""
        try:
            msg = messages.from_wire(self.codec.decode(payload))
        except (CodecError, ProtocolError) as exc:
            self._protocol_error(str(exc))
            return False
        self._dispatch(msg)
        return True

    def _pause_for_a_turn(self) -> None:
        if not self._reading_paused and self._transport is not None:
            self._reading_paused = True
            self._transport.pause_reading()  # the buffer stays bounded meanwhile
        if not self._frames_scheduled:
            self._frames_scheduled = True
            self._loop.call_soon(self._read_frames)

    # ---------------------------------------------------------------- incoming

    def _dispatch(self, msg: messages.Message) -> None:
        match msg:
            case Response(call_id, result):
                call = self._answered(call_id)
                if call is not None and not call.future.done():
                    call.future.set_result(result)
            case Error(call_id, kind, message, tb):
                call = self._answered(call_id)
                if call is not None and not call.future.done():
                    call.future.set_exception(RemoteError(kind, message, tb))
            case Request(call_id, _, _):
                if call_id in self._serving:
                    self._protocol_error(f"request id {call_id} is already in use")
                    return
                serving = self._loop.create_task(self._serve(msg))
                self._serving[call_id] = serving  # before its first step: the task removes itself when it ends
                run_first_step(self._loop, serving)  # most requests are answered without a loop turn
            case Notify(method, params):
                if self._on_notify is not None:
                    try:
                        self._on_notify(method, params)
                    except Exception:
                        log.exception("[%s] notify handler for %r failed", self.name, method)
            case Cancel(call_id):
                task = self._serving.get(call_id)
                if task is not None:
                    task.cancel()

    def _answered(self, call_id: int) -> OutgoingCall | None:
        call = self._pending.pop(call_id, None)
        if call is None:
            if call_id > self._last_id:
                self._protocol_error(f"answer to request id {call_id}, which was never sent")
            else:
                self.late_answers += 1  # we gave up on it (timeout/cancel): harmless
        else:
            call.answered_at = time.perf_counter()
        return call

    async def _serve(self, req: Request) -> None:
        try:
            result = await self._on_request(req.method, req.params)
            if self._close_reason is None:
                try:
                    self._send(Response(req.id, result))
                except CodecError as exc:
                    self._send_error(req.id, "CodecError", f"cannot return the result of {req.method}: {exc}", "")
        except asyncio.CancelledError as exc:
            if asyncio.current_task().cancelling():  # type: ignore[union-attr]
                raise  # really cancelled (CANCEL message or closing): the caller gave up
            self._send_error(req.id, "CancelledError", _safe_str(exc), traceback.format_exc())
        except Exception as exc:
            # An exception may carry a traceback from further away (a module's import error).
            tb = getattr(exc, "remote_traceback", None) or traceback.format_exc()
            self._send_error(req.id, type(exc).__name__, _safe_str(exc), tb)
        finally:
            self._serving.pop(req.id, None)

    def _send_error(self, call_id: int, kind: str, message: str, tb: str) -> None:
        """Answer with an error whatever the exception held (huge text, lone surrogates)."""
        if self._close_reason is not None:
            return
        error = Error(
            call_id,
            _sendable(kind, messages.MAX_ERROR_KIND),
            _sendable(message, messages.MAX_ERROR_MESSAGE),
            _sendable(tb, messages.MAX_TRACEBACK),
        )
        try:
            self._send(error)
        except CodecError:  # still over the frame cap: keep the kind and the start of the message
            self._send(Error(call_id, error.kind, error.message[:1000] + "… [truncated to fit a frame]", ""))


def _sendable(text: str, limit: int) -> str:
    text = text if len(text) <= limit else text[:limit] + "… [truncated]"
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:
        return f"<unprintable {type(exc).__name__}>"
