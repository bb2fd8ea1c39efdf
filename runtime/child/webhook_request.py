"""Hand a webhook request from the host to the module's handler as an aiohttp ``web.Request``.

The host's HTTP server receives the request, checks its size and forwards method, path, query,
headers, body and the client address; here it becomes an aiohttp ``Request`` (built with
aiohttp's own request factory, its body a real ``StreamReader``), the module's
``handler(request)`` runs, and its response (status, headers, body) goes back. Streaming
responses are not supported: a webhook answers with a plain ``Response``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.streams import StreamReader
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict

MAX_RESPONSE_BODY = 1024 * 1024


class _Transport:
    """What ``Request.remote`` and ``Request.transport`` read; there is no socket here."""

    def __init__(self, peer: tuple[str, int]) -> None:
        self._peer = peer

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._peer if name == "peername" else default

    def is_closing(self) -> bool:
        return False


class _NoFlowControl:
    """``StreamReader`` pauses and resumes its protocol; the whole body is already here."""

    def pause_reading(self, *args: Any, **kwargs: Any) -> None:
        pass

    def resume_reading(self, *args: Any, **kwargs: Any) -> None:
        pass


def build_request(params: dict[str, Any]) -> web.Request:
    method, path, query = str(params["method"]), str(params["path"]), str(params.get("query") or "")
    headers = CIMultiDict((str(k), str(v)) for k, v in params.get("headers") or [])
    body = params.get("body") or b""
    if not isinstance(body, bytes):
        raise ValueError("webhook body must be bytes")
    loop = asyncio.get_running_loop()
    payload = StreamReader(_NoFlowControl(), 2**16, loop=loop)  # type: ignore[arg-type]
    payload.feed_data(body)
    payload.feed_eof()
    remote = params.get("remote") or "127.0.0.1"
    return make_mocked_request(
        method,
        path + (f"?{query}" if query else ""),
        headers=headers,
        payload=payload,
        transport=_Transport((str(remote), 0)),
        client_max_size=max(len(body), 1024 * 1024),
        loop=loop,
    )


async def run_webhook(handler: Callable[[web.Request], Awaitable[Any]], params: dict[str, Any]) -> dict[str, Any]:
    request = build_request(params)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        response = exc
    if not isinstance(response, web.Response):
        raise TypeError(f"a webhook handler must return aiohttp.web.Response, got {type(response).__name__}")
    body = response.body if isinstance(response.body, bytes) else (response.text or "").encode()
    if len(body) > MAX_RESPONSE_BODY:
        raise ValueError(f"webhook response body is {len(body)} bytes; the limit is {MAX_RESPONSE_BODY}")
    headers = [[k, v] for k, v in response.headers.items() if k.lower() not in ("content-length", "transfer-encoding")]
    return {"status": response.status, "headers": headers, "body": body}
