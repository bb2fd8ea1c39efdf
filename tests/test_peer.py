"""``ipc.Peer`` over a real ``socket.socketpair()``, both ends in one event loop.

Protocol breaches are injected from a raw socket standing in for the other side: a frame is a
4-byte big-endian length and a msgpack payload, and a message is one of

    [0, id, method, params]             request
    [1, id, result]                     response
    [2, id, kind, message, traceback]   error
    [3, method, params]                 notify
    [4, id]                             cancel
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import logging
import os
import random
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import msgpack
import pytest

from ipc import DEFAULT_MAX_FRAME, CodecError, Encoded, Peer, PeerClosed, RemoteError, encode

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(20)]

HEADER = struct.Struct(">I")
SMALL_FRAME = 1024

Handler = Callable[[str, Any], Awaitable[Any]]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# ---------------------------------------------------------------------------- helpers


async def refuse(method: str, params: Any) -> Any:
    raise AssertionError(f"unexpected request {method!r}")


async def echo(method: str, params: Any) -> Any:
    return params


def now() -> float:
    return asyncio.get_running_loop().time()


async def settle(*peers: Peer) -> None:
    """Let cancelled handler tasks run to their end."""
    for _ in range(20):
        if all(peer.serving_count == 0 for peer in peers):
            return
        await asyncio.sleep(0)


async def eventually(predicate: Callable[[], Any], timeout: float = 1.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.001)


class Hang:
    """A handler that never answers; records start and cancellation of each call."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.cancelled = asyncio.Event()
        self.calls: list[tuple[str, Any]] = []

    async def __call__(self, method: str, params: Any) -> Any:
        self.calls.append((method, params))
        self.started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise


@asynccontextmanager
async def peer_pair(
    on_request_a: Handler = refuse,
    on_request_b: Handler = refuse,
    *,
    on_notify_a: Callable[[str, Any], None] | None = None,
    on_notify_b: Callable[[str, Any], None] | None = None,
    max_frame_a: int = DEFAULT_MAX_FRAME,
    max_frame_b: int = DEFAULT_MAX_FRAME,
) -> AsyncIterator[tuple[Peer, Peer]]:
    sock_a, sock_b = socket.socketpair()
    a = await Peer.connect(sock_a, "A", on_request_a, on_notify_a, max_frame=max_frame_a)
    b = await Peer.connect(sock_b, "B", on_request_b, on_notify_b, max_frame=max_frame_b)
    try:
        yield a, b
    finally:
        a.close()
        b.close()
        await settle(a, b)


def frame(message: Any) -> bytes:
    return framed(msgpack.packb(message, use_bin_type=True))


def framed(payload: bytes) -> bytes:
    return HEADER.pack(len(payload)) + payload


class RawEnd:
    """The other end of the socket driven by hand: writes any bytes, reads frames."""

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.loop = asyncio.get_running_loop()
        self.buffer = bytearray()

    async def write(self, data: bytes) -> None:
        await self.loop.sock_sendall(self.sock, data)

    async def send(self, *messages: Any) -> None:
        await self.write(b"".join(frame(m) for m in messages))

    async def _fill(self, size: int) -> None:
        while len(self.buffer) < size:
            chunk = await self.loop.sock_recv(self.sock, 65536)
            if not chunk:
                raise EOFError("the peer closed the socket")
            self.buffer += chunk

    async def recv(self, timeout: float = 2.0) -> Any:
        async with asyncio.timeout(timeout):
            await self._fill(4)
            (size,) = HEADER.unpack_from(self.buffer)
            await self._fill(4 + size)
        payload = bytes(self.buffer[4 : 4 + size])
        del self.buffer[: 4 + size]
        return msgpack.unpackb(payload, raw=False, strict_map_key=False)

    async def at_eof(self, timeout: float = 2.0) -> bool:
        """True once the peer has closed its end (anything still unread is discarded)."""
        async with asyncio.timeout(timeout):
            while await self.loop.sock_recv(self.sock, 65536):
                pass
        return True


@asynccontextmanager
async def peer_and_raw(on_request: Handler = refuse, *, max_frame: int = DEFAULT_MAX_FRAME) -> AsyncIterator[tuple[Peer, RawEnd]]:
    sock, raw_sock = socket.socketpair()
    peer = await Peer.connect(sock, "P", on_request, max_frame=max_frame)
    raw = RawEnd(raw_sock)
    try:
        yield peer, raw
    finally:
        peer.close()
        raw_sock.close()
        await settle(peer)


# ---------------------------------------------------------------------------- requests, errors, notifications


async def test_request_and_response() -> None:
    async def handler(method: str, params: Any) -> Any:
        return {"method": method, "params": params, "doubled": [x * 2 for x in params["xs"]]}

    async with peer_pair(on_request_b=handler) as (a, b):
        result = await a.request("double", {"xs": [1, 2, 3]}, timeout=2)
        assert result == {"method": "double", "params": {"xs": [1, 2, 3]}, "doubled": [2, 4, 6]}
        assert a.serving_count == 0 and b.serving_count == 0
        assert not a.is_closed and not b.is_closed


async def test_request_without_params_sends_none() -> None:
    seen: list[tuple[str, Any]] = []

    async def handler(method: str, params: Any) -> Any:
        seen.append((method, params))
        return "ok"

    async with peer_pair(on_request_b=handler) as (a, _):
        assert await a.request("ping", timeout=2) == "ok"
        assert seen == [("ping", None)]


async def test_parameters_encoded_once_arrive_as_if_sent_plain_on_every_channel() -> None:
    """``Encoded`` params (what a fan-out sends every module) decode exactly like plain ones, each
    request with its own id; a frame over the cap is still refused locally."""
    params = {"hook": "h", "kwargs": {"n": 1, "when": dt.date(2026, 1, 2), "nested": [None, "x" * 300]}}
    encoded = Encoded(encode(params))
    async with peer_pair(on_request_b=echo) as (a, _), peer_pair(on_request_b=echo) as (c, _):
        for sender in (a, c):
            first, second = sender.call("m", encoded), sender.call("m", encoded)
            assert (await first.future, await second.future) == (params, params)
            assert second.id == first.id + 1
    async with peer_pair(on_request_b=echo, max_frame_a=64) as (small, _):
        with pytest.raises(CodecError, match="frame cap"):
            small.call("m", encoded)
        assert not small.is_closed


async def test_call_returns_outgoing_call_with_increasing_ids() -> None:
    async with peer_pair(on_request_b=echo) as (a, _):
        first, second = a.call("one", 1), a.call("two", 2)
        assert (first.id, second.id) == (1, 2)
        assert await asyncio.wait_for(second.future, 2) == 2
        assert await asyncio.wait_for(first.future, 2) == 1


async def test_handler_exception_becomes_remote_error_with_traceback() -> None:
    async def handler(method: str, params: Any) -> Any:
        if method == "fail":
            raise ValueError(f"bad input {params}")
        if method == "forwarded":
            exc = LookupError("module import failed")
            exc.remote_traceback = "Traceback (from the module process)\n"  # type: ignore[attr-defined]
            raise exc
        if method == "bare":
            raise KeyError
        return "ok"

    async with peer_pair(on_request_b=handler) as (a, b):
        with pytest.raises(RemoteError) as info:
            await a.request("fail", 42, timeout=2)
        err = info.value
        assert (err.kind, err.message) == ("ValueError", "bad input 42")
        assert str(err) == "ValueError: bad input 42"
        assert err.traceback.startswith("Traceback (most recent call last)")
        assert 'raise ValueError(f"bad input {params}")' in err.traceback
        assert err.traceback.rstrip().endswith("ValueError: bad input 42")

        with pytest.raises(RemoteError) as info:
            await a.request("forwarded", timeout=2)
        assert info.value.kind == "LookupError"
        assert info.value.traceback == "Traceback (from the module process)\n"

        with pytest.raises(RemoteError) as info:
            await a.request("bare", timeout=2)
        assert (info.value.kind, info.value.message, str(info.value)) == ("KeyError", "", "KeyError")

        # an error is an answer, not a breach: the channel carries on
        assert await a.request("ok", timeout=2) == "ok"
        assert not a.is_closed and not b.is_closed
        assert a.protocol_error is None and b.protocol_error is None


async def test_unprintable_exception_still_answers() -> None:
    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    async def handler(method: str, params: Any) -> Any:
        raise Unprintable

    async with peer_pair(on_request_b=handler) as (a, _):
        with pytest.raises(RemoteError) as info:
            await a.request("x", timeout=2)
        assert info.value.kind == "Unprintable"
        assert info.value.message == "<unprintable Unprintable>"


async def test_notify_is_delivered_in_order_before_later_requests(caplog: pytest.LogCaptureFixture) -> None:
    received: list[tuple[str, Any]] = []

    def on_notify(method: str, params: Any) -> None:
        if method == "explode":
            raise RuntimeError("notify handler bug")
        received.append((method, params))

    async def snapshot(method: str, params: Any) -> Any:
        return list(received)

    async with peer_pair(on_request_b=snapshot, on_notify_b=on_notify) as (a, b):
        a.notify("progress", 1)
        a.notify("explode")
        a.notify("progress", {"done": True, "at": (1, 2)})
        with caplog.at_level(logging.ERROR, logger="solobot.ipc"):
            # the request is sent after the notifications, so it is handled after them
            assert await a.request("snapshot", timeout=2) == [["progress", 1], ["progress", {"done": True, "at": [1, 2]}]]
        assert any("notify handler for 'explode' failed" in r.getMessage() for r in caplog.records)
        assert not b.is_closed  # a failing notify handler is logged, not fatal
        # notifications need no answer: nothing is pending, nothing is served
        assert a.serving_count == 0 and b.serving_count == 0


async def test_notify_without_a_notify_handler_is_ignored() -> None:
    async with peer_pair(on_request_b=echo) as (a, b):
        a.notify("nobody listens", [1])
        assert await a.request("echo", "still fine", timeout=2) == "still fine"
        assert not b.is_closed


# ---------------------------------------------------------------------------- concurrency


async def test_both_sides_request_concurrently_with_colliding_ids() -> None:
    async def handler_a(method: str, params: Any) -> Any:
        await asyncio.sleep(0)
        return ["A", method, params]

    async def handler_b(method: str, params: Any) -> Any:
        await asyncio.sleep(0)
        return ["B", method, params]

    async with peer_pair(handler_a, handler_b) as (a, b):
        n = 20
        results = await asyncio.gather(
            *(a.request("to_b", i, timeout=2) for i in range(n)),
            *(b.request("to_a", i, timeout=2) for i in range(n)),
        )
        # ids 1..20 are used in both directions at once; each answer still finds its caller
        assert results[:n] == [["B", "to_b", i] for i in range(n)]
        assert results[n:] == [["A", "to_a", i] for i in range(n)]


async def test_reentrant_handler_requesting_back_does_not_deadlock() -> None:
    peers: dict[str, Peer] = {}

    async def handler_a(method: str, params: Any) -> Any:
        assert method == "lookup"
        return f"name-of-{params}"

    async def handler_b(method: str, params: Any) -> Any:
        # A is waiting on this very request while B asks A something
        name = await peers["B"].request("lookup", params["user"], timeout=2)
        return {"greeting": f"hello {name}"}

    async with peer_pair(handler_a, handler_b) as (a, b):
        peers.update(A=a, B=b)
        async with asyncio.timeout(3):
            assert await a.request("greet", {"user": 7}, timeout=2) == {"greeting": "hello name-of-7"}


async def test_deep_ping_pong_recursion_across_both_sides() -> None:
    peers: dict[str, Peer] = {}

    def countdown(side: str) -> Handler:
        async def handler(method: str, n: int) -> Any:
            if n == 0:
                return [side]
            return [side, *await peers[side].request("countdown", n - 1, timeout=2)]

        return handler

    async with peer_pair(countdown("A"), countdown("B")) as (a, b):
        peers.update(A=a, B=b)
        async with asyncio.timeout(3):
            # every handler on the chain is waiting on the other side when the next one runs
            assert await a.request("countdown", 6, timeout=2) == ["B", "A", "B", "A", "B", "A", "B"]
        assert a.serving_count == 0 and b.serving_count == 0


async def test_hundred_concurrent_requests_with_out_of_order_completion() -> None:
    n = 100
    gates = [asyncio.Event() for _ in range(n)]
    all_arrived = asyncio.Event()
    arrived: list[int] = []
    finished: list[int] = []

    async def handler(method: str, i: int) -> Any:
        arrived.append(i)
        if len(arrived) == n:
            all_arrived.set()
        await gates[i].wait()
        finished.append(i)
        return {"i": i, "square": i * i, "method": method}

    async with peer_pair(on_request_b=handler) as (a, b):
        tasks = [asyncio.create_task(a.request(f"m{i}", i, timeout=5)) for i in range(n)]
        async with asyncio.timeout(2):
            await all_arrived.wait()
        assert b.serving_count == n  # all 100 handlers run at once

        order = list(range(n))
        random.Random(20240601).shuffle(order)
        for i in order:
            gates[i].set()
        results = await asyncio.gather(*tasks)

        assert finished == order  # they really completed out of order...
        assert finished != sorted(finished)
        assert results == [{"i": i, "square": i * i, "method": f"m{i}"} for i in range(n)]  # ...and each answer met its caller
        assert b.serving_count == 0


# ---------------------------------------------------------------------------- timeouts and cancellation


async def test_timeout_raises_and_cancels_the_remote_handler() -> None:
    hang = Hang()

    async def handler(method: str, params: Any) -> Any:
        if method == "ping":
            return "pong"
        return await hang(method, params)

    async with peer_pair(on_request_b=handler) as (a, b):
        started = now()
        with pytest.raises(TimeoutError):
            await a.request("hang", timeout=0.05)
        assert 0.04 <= now() - started < 1  # loop timers may fire a hair early
        async with asyncio.timeout(1):
            await hang.cancelled.wait()  # the Cancel reached B and its handler was cancelled
        await eventually(lambda: b.serving_count == 0)
        assert await a.request("ping", timeout=2) == "pong"
        assert a.late_answers == 0
        assert not a.is_closed and not b.is_closed


async def test_cancelling_the_awaiting_task_cancels_the_remote_handler() -> None:
    hang = Hang()
    async with peer_pair(on_request_b=hang) as (a, b):
        task = asyncio.create_task(a.request("hang", timeout=10))
        async with asyncio.timeout(1):
            await hang.started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        async with asyncio.timeout(1):
            await hang.cancelled.wait()
        assert not a.is_closed and not b.is_closed


async def test_outgoing_call_cancel_tells_the_other_side() -> None:
    hang = Hang()
    async with peer_pair(on_request_b=hang) as (a, _):
        call = a.call("hang")
        async with asyncio.timeout(1):
            await hang.started.wait()
        call.cancel()
        assert call.future.cancelled()
        async with asyncio.timeout(1):
            await hang.cancelled.wait()
        call.cancel()  # a second cancel is harmless


async def test_late_answer_to_a_cancelled_request_is_counted_not_fatal() -> None:
    async with peer_and_raw(echo) as (peer, raw):
        with pytest.raises(TimeoutError):
            await peer.request("slow", timeout=0.05)
        assert await raw.recv() == [0, 1, "slow", None]
        assert await raw.recv() == [4, 1]  # the peer told the other side it gave up

        await raw.send([1, 1, "too late"], [2, 1, "ValueError", "also too late", ""])
        # a request sent after them: its answer proves both late answers have been processed
        await raw.send([0, 1, "echo", "sync"])
        assert await raw.recv() == [1, 1, "sync"]
        assert peer.late_answers == 2
        assert not peer.is_closed
        assert peer.protocol_error is None

        task = asyncio.create_task(peer.request("next", timeout=2))
        assert await raw.recv() == [0, 2, "next", None]
        await raw.send([1, 2, "fine"])
        assert await task == "fine"


async def test_late_answer_from_a_handler_that_ignores_cancellation() -> None:
    finished = asyncio.Event()

    async def stubborn(method: str, params: Any) -> Any:
        if method == "ping":
            return "pong"
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            pass  # swallows the cancel and answers anyway
        finished.set()
        return "answer nobody waits for"

    async with peer_pair(on_request_b=stubborn) as (a, _):
        with pytest.raises(TimeoutError):
            await a.request("stubborn", timeout=0.05)
        async with asyncio.timeout(1):
            await finished.wait()
        await eventually(lambda: a.late_answers == 1)
        assert not a.is_closed and a.protocol_error is None
        assert await a.request("ping", timeout=2) == "pong"


# ---------------------------------------------------------------------------- protocol breaches


PROTOCOL_BREACHES = [
    pytest.param(framed(b"\xc1"), "malformed msgpack", id="malformed-msgpack"),
    pytest.param(framed(b"\x94\x00\x01"), "malformed msgpack", id="truncated-msgpack-in-frame"),
    pytest.param(framed(b"\x01\x02"), "malformed msgpack", id="two-values-in-one-frame"),
    pytest.param(frame([9, 1]), "unknown message kind 9", id="unknown-kind"),
    pytest.param(frame([1, 1]), "unknown message kind 1", id="response-with-too-few-fields"),
    pytest.param(frame([3, "m", None, "extra"]), "unknown message kind 3", id="notify-with-too-many-fields"),
    pytest.param(HEADER.pack(SMALL_FRAME + 1), "exceeds", id="header-announcing-more-than-max-frame"),
    pytest.param(HEADER.pack(2**32 - 1) + b"\x00" * 8, "exceeds", id="header-announcing-4-GiB"),
    pytest.param(frame([1, 99, "forged"]), "never sent", id="response-to-an-id-never-issued"),
    pytest.param(frame([2, 99, "ValueError", "forged", ""]), "never sent", id="error-for-an-id-never-issued"),
    pytest.param(frame({"kind": 0}), "must be an array", id="map-instead-of-array"),
    pytest.param(frame(42), "must be an array", id="int-instead-of-array"),
    pytest.param(frame([]), "must be an array", id="empty-array"),
    pytest.param(frame(["0", 1, "m", None]), "must be an array", id="kind-is-a-string"),
    pytest.param(frame([True, 1, "x"]), "must be an array", id="kind-is-a-bool"),
    pytest.param(frame([0, 0, "m", None]), "positive integer", id="request-id-zero"),
    pytest.param(frame([0, -3, "m", None]), "positive integer", id="request-id-negative"),
    pytest.param(frame([4, "1"]), "positive integer", id="cancel-id-not-int"),
    pytest.param(frame([0, 1, "", None]), "method name", id="empty-method"),
    pytest.param(frame([0, 1, "m" * 101, None]), "method name", id="method-too-long"),
    pytest.param(frame([2, 1, None, "msg", ""]), "error kind", id="error-kind-not-a-string"),
]


@pytest.mark.parametrize(("data", "expected"), PROTOCOL_BREACHES)
async def test_protocol_breach_closes_the_channel_and_fails_pending_requests(data: bytes, expected: str) -> None:
    async with peer_and_raw(max_frame=SMALL_FRAME) as (peer, raw):
        pending = asyncio.create_task(peer.request("pending", timeout=10))
        assert await raw.recv() == [0, 1, "pending", None]

        started = now()
        await raw.write(data)
        with pytest.raises(PeerClosed) as info:
            async with asyncio.timeout(2):
                await pending
        assert now() - started < 1  # at once, not at the request's 10 s timeout

        assert peer.is_closed
        assert peer.protocol_error is not None
        assert expected in peer.protocol_error
        assert peer.close_reason == f"protocol error: {peer.protocol_error}"
        assert info.value.reason == peer.close_reason
        assert peer.closed.done() and peer.closed.result() == peer.close_reason
        assert await raw.at_eof()  # the socket itself was closed
        with pytest.raises(PeerClosed):
            peer.call("after")


async def test_duplicate_in_flight_request_id_is_a_protocol_error() -> None:
    hang = Hang()
    async with peer_and_raw(hang) as (peer, raw):
        pending = asyncio.create_task(peer.request("pending", timeout=10))
        assert await raw.recv() == [0, 1, "pending", None]
        await raw.send([0, 7, "hang", "first"])
        async with asyncio.timeout(1):
            await hang.started.wait()
        assert peer.serving_count == 1

        await raw.send([0, 7, "hang", "second"])
        with pytest.raises(PeerClosed):
            async with asyncio.timeout(1):
                await pending
        assert peer.protocol_error == "request id 7 is already in use"
        assert hang.calls == [("hang", "first")]  # the duplicate never reached the handler
        async with asyncio.timeout(1):
            await hang.cancelled.wait()  # closing cancels the handler still running
        await eventually(lambda: peer.serving_count == 0)
        assert await raw.at_eof()


async def test_a_finished_request_id_may_be_reused() -> None:
    async with peer_and_raw(echo) as (peer, raw):
        await raw.send([0, 5, "echo", "a"])
        assert await raw.recv() == [1, 5, "a"]
        await raw.send([0, 5, "echo", "b"])
        assert await raw.recv() == [1, 5, "b"]
        assert not peer.is_closed


async def test_frames_split_and_coalesced_arbitrarily_are_reassembled() -> None:
    async with peer_and_raw(echo) as (peer, raw):
        stream = frame([0, 1, "echo", "x" * 300]) + frame([3, "note", None]) + frame([0, 2, "echo", {"k": [1, 2]}])
        for i in range(0, len(stream), 7):  # 7-byte dribbles, cutting headers and payloads
            await raw.write(stream[i : i + 7])
            await asyncio.sleep(0)
        assert await raw.recv() == [1, 1, "x" * 300]
        assert await raw.recv() == [1, 2, {"k": [1, 2]}]
        assert not peer.is_closed


async def test_frame_of_exactly_max_frame_is_accepted() -> None:
    overhead = len(encode([0, 1, "echo", ""]))
    size = SMALL_FRAME - overhead
    while len(encode([0, 1, "echo", "x" * size])) > SMALL_FRAME:
        size -= 1
    params = "x" * size
    assert len(encode([0, 1, "echo", params])) == SMALL_FRAME
    async with peer_pair(on_request_b=echo, max_frame_a=SMALL_FRAME, max_frame_b=SMALL_FRAME) as (a, b):
        assert await a.request("echo", params, timeout=2) == params
        with pytest.raises(CodecError, match=f"{SMALL_FRAME + 1} bytes exceeds the {SMALL_FRAME}-byte frame cap"):
            a.call("echo", params + "x")
        assert not a.is_closed and not b.is_closed


# ---------------------------------------------------------------------------- values that cannot be sent


async def test_message_over_max_frame_raises_codec_error_locally_and_channel_stays_open() -> None:
    seen: list[str] = []

    async def handler(method: str, params: Any) -> Any:
        seen.append(method)
        return params

    async with peer_pair(on_request_b=handler, max_frame_a=SMALL_FRAME) as (a, b):
        big = "x" * (2 * SMALL_FRAME)
        with pytest.raises(CodecError, match="frame cap"):
            a.call("big", big)
        with pytest.raises(CodecError, match="frame cap"):
            await a.request("big", big, timeout=2)
        with pytest.raises(CodecError, match="frame cap"):
            a.notify("big", big)
        with pytest.raises(CodecError, match=r"\['session'\]"):
            a.call("unencodable", {"session": object()})

        assert not a.is_closed and not b.is_closed
        assert await a.request("small", "fits", timeout=2) == "fits"
        assert seen == ["small"]  # nothing of the refused messages was sent


@pytest.mark.parametrize(
    ("result", "fragment"),
    [
        pytest.param({"session": object()}, "['session']", id="unsupported-type"),
        pytest.param([1, 2**70], "int", id="int-beyond-64-bits"),
        pytest.param("x" * (2 * SMALL_FRAME), "frame cap", id="result-over-max-frame"),
    ],
)
async def test_unencodable_result_becomes_remote_codec_error(result: Any, fragment: str) -> None:
    async def handler(method: str, params: Any) -> Any:
        return result if method == "bad" else params

    async with peer_pair(on_request_b=handler, max_frame_b=SMALL_FRAME) as (a, b):
        with pytest.raises(RemoteError) as info:
            await a.request("bad", timeout=2)
        assert info.value.kind == "CodecError"
        assert "cannot return the result of bad" in info.value.message
        assert fragment in info.value.message
        assert await a.request("echo", "still usable", timeout=2) == "still usable"
        assert not a.is_closed and not b.is_closed


# ---------------------------------------------------------------------------- closing


async def test_closing_one_side_fails_the_other_sides_pending_requests_at_once() -> None:
    hang = Hang()
    async with peer_pair(on_request_b=hang) as (a, b):
        pending = [asyncio.create_task(a.request("hang", i, timeout=10)) for i in range(3)]
        await eventually(lambda: len(hang.calls) == 3)

        started = now()
        b.close()
        for task in pending:
            with pytest.raises(PeerClosed) as info:
                async with asyncio.timeout(2):
                    await task
            assert info.value.reason == "connection closed by the other side"
        assert now() - started < 1  # long before the 10 s timeout

        assert b.close_reason == "closed locally"
        assert a.close_reason == "connection closed by the other side"
        assert a.protocol_error is None and b.protocol_error is None
        async with asyncio.timeout(1):
            assert await a.closed == "connection closed by the other side"
            await hang.cancelled.wait()  # B's own handlers were cancelled on close
        await eventually(lambda: b.serving_count == 0)


async def test_closing_locally_fails_own_pending_requests_and_cancels_remote_handlers() -> None:
    hang = Hang()
    async with peer_pair(on_request_b=hang) as (a, b):
        pending = asyncio.create_task(a.request("hang", timeout=10))
        async with asyncio.timeout(1):
            await hang.started.wait()

        started = now()
        a.close("shutting down")
        with pytest.raises(PeerClosed) as info:
            async with asyncio.timeout(2):
                await pending
        assert info.value.reason == "shutting down"
        assert now() - started < 1
        async with asyncio.timeout(1):
            assert await b.closed == "connection closed by the other side"
            await hang.cancelled.wait()  # B saw EOF and cancelled the handler serving A


async def test_after_close_calls_fail_notifies_are_dropped_and_close_is_idempotent() -> None:
    async with peer_pair(on_request_b=echo) as (a, _):
        a.close("first reason")
        a.close("second reason")
        assert a.close_reason == "first reason"
        assert a.closed.result() == "first reason"
        with pytest.raises(PeerClosed) as info:
            a.call("x")
        assert info.value.reason == "first reason"
        with pytest.raises(PeerClosed):
            await a.request("x", timeout=2)
        a.notify("dropped")  # silently ignored


# ---------------------------------------------------------------------------- found bugs
# Each of these asserts what the peer should do and currently fails; see the report.


@pytest.mark.parametrize(
    "exc",
    [
        # the Error frame (message + traceback) is bigger than the responder's max_frame
        pytest.param(RuntimeError("x" * (64 * 1024)), id="exception-message-bigger-than-a-frame"),
        # a message msgpack cannot encode: a lone surrogate, as in a file name from os.listdir()/os.fsdecode()
        pytest.param(ValueError("cannot read " + os.fsdecode(b"caf\xe9.txt")), id="exception-message-with-lone-surrogate"),
    ],
)
async def test_handler_exception_that_cannot_be_sent_still_answers_the_caller(exc: Exception) -> None:
    async def handler(method: str, params: Any) -> Any:
        raise exc

    async with peer_pair(on_request_b=handler, max_frame_b=16 * 1024) as (a, b):
        try:
            await a.request("fail", timeout=0.5)
        except RemoteError as err:
            outcome = f"RemoteError {err.kind}"
        except TimeoutError:
            outcome = "no answer at all (TimeoutError)"
        else:
            outcome = "a result"
        assert outcome == f"RemoteError {type(exc).__name__}", (
            "BUG ipc/peer.py Peer._serve: when the Error frame cannot be encoded the CodecError escapes the handler task "
            "and the caller is never answered"
        )
        assert not b.is_closed


async def test_handler_raising_a_stray_cancelled_error_still_answers_the_caller() -> None:
    async def handler(method: str, params: Any) -> Any:
        # awaiting something that was cancelled elsewhere raises CancelledError in a task nobody cancelled
        other = asyncio.get_running_loop().create_future()
        other.cancel()
        return await other

    async with peer_pair(on_request_b=handler) as (a, _):
        try:
            await a.request("x", timeout=0.5)
        except RemoteError:
            outcome = "RemoteError"
        except TimeoutError:
            outcome = "no answer at all (TimeoutError)"
        else:
            outcome = "a result"
        assert outcome == "RemoteError", (
            "BUG ipc/peer.py Peer._serve: a CancelledError not caused by cancelling the serving task is re-raised "
            "silently, so the caller never gets an answer"
        )


async def test_result_that_encodes_but_cannot_be_decoded_does_not_drop_the_channel() -> None:
    async def handler(method: str, params: Any) -> Any:
        return {(1, 2): "tuple key"} if method == "bad" else params

    async with peer_pair(on_request_b=handler) as (a, _):
        try:
            await a.request("bad", timeout=2)
        except RemoteError:
            pass  # refusing it on B's side is fine
        except PeerClosed:
            pass
        assert a.protocol_error is None, (
            f"BUG ipc/codec.py: encode() accepts a dict with a tuple key that decode() refuses, so A closed the channel: "
            f"{a.protocol_error}"
        )
        assert await a.request("echo", "still usable", timeout=2) == "still usable"


async def test_a_flood_of_frames_is_read_in_turns_and_the_loop_runs_in_between() -> None:
    # 1000 notifications written at once: one callback decoding them all would hold the event
    # loop (a module flooding its log stalls every other module and the bot). They are read
    # FRAMES_PER_TURN at a time, in order, with the loop running other work between turns.
    from ipc.peer import FRAMES_PER_TURN

    turn = 0
    seen: list[tuple[int, int]] = []  # (loop turn, notification number)

    def on_notify(method: str, params: Any) -> None:
        seen.append((turn, params))

    async def count_turns() -> None:
        nonlocal turn
        while True:
            await asyncio.sleep(0)
            turn += 1

    sock, raw_sock = socket.socketpair()
    peer = await Peer.connect(sock, "P", refuse, on_notify)
    raw = RawEnd(raw_sock)
    counter = asyncio.create_task(count_turns())
    try:
        await raw.send(*([3, "log", i] for i in range(1000)))
        deadline = asyncio.get_running_loop().time() + 5
        while len(seen) < 1000 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
    finally:
        counter.cancel()
        peer.close()
        raw_sock.close()
        await settle(peer)
    assert [n for _, n in seen] == list(range(1000))
    per_turn: dict[int, int] = {}
    for at, _ in seen:
        per_turn[at] = per_turn.get(at, 0) + 1
    assert max(per_turn.values()) <= FRAMES_PER_TURN < 1000
    assert len(per_turn) >= 1000 // FRAMES_PER_TURN


# ---------------------------------------------------------------------------- a request's first step


async def test_a_handler_that_never_suspends_is_answered_in_the_callback_that_read_its_frame() -> None:
    # The serving task's first step runs at once (ipc/first_step.py): no event-loop turn between
    # reading a request and answering it, yet the handler still runs inside its own task.
    seen: list[Any] = []

    async def handler(method: str, params: Any) -> Any:
        async with asyncio.timeout(1):  # needs a current task: raises RuntimeError outside one
            seen.append(asyncio.current_task())
            return params

    async with peer_and_raw(handler) as (peer, raw):
        after_the_callback: list[tuple[int, int]] = []

        def read_a_frame() -> None:  # what the transport does when data arrives: a plain loop callback
            peer.data_received(frame([0, 1, "x", "hi"]))
            after_the_callback.append((len(seen), peer.serving_count))

        asyncio.get_running_loop().call_soon(read_a_frame)
        assert await raw.recv() == [1, 1, "hi"]
        assert after_the_callback == [(1, 0)], "the request had not been answered when the callback returned"
        assert isinstance(seen[0], asyncio.Task) and seen[0] is not asyncio.current_task()


async def test_requests_started_at_once_keep_their_own_context_and_task() -> None:
    marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker", default="unset")
    release = asyncio.Event()
    tasks: list[asyncio.Task[Any] | None] = []

    async def handler(method: str, params: Any) -> Any:
        before = marker.get()
        marker.set(params)
        tasks.append(asyncio.current_task())
        if params == "first":
            await release.wait()  # suspends: goes on as an ordinary task
        return [before, marker.get()]

    async with peer_and_raw(handler) as (peer, raw):
        asyncio.get_running_loop().call_soon(peer.data_received, frame([0, 1, "x", "first"]) + frame([0, 2, "x", "second"]))
        assert await raw.recv() == [1, 2, ["unset", "second"]]  # the second saw nothing of the first's context
        assert peer.serving_count == 1
        release.set()
        assert await raw.recv() == [1, 1, ["unset", "first"]]
        assert tasks[0] is not tasks[1] and peer.serving_count == 0


async def test_a_request_cancelled_after_its_first_step_is_cancelled_on_this_side() -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def handler(method: str, params: Any) -> Any:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async with peer_and_raw(handler) as (peer, _raw):
        # Request and cancel in one read: the first step has run before the cancel is decoded.
        asyncio.get_running_loop().call_soon(peer.data_received, frame([0, 1, "x", None]) + frame([4, 1]))
        async with asyncio.timeout(2):
            await cancelled.wait()
        assert started.is_set() and peer.serving_count == 0
