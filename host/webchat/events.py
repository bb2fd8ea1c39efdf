"""``GET /api/events?user=ID``: Server-Sent Events that keep one page live.

Events: ``chat`` (the whole visible chat, sent when anything in it changed: a new message, an
edit, a deletion), ``modules`` (the side panel), ``toast`` (a callback answer the bot gave to
this user's button press). Wake-ups come from ``World.wait_change()``; the one-second timeout
also refreshes the modules panel (memory, restarts), which changes without touching the world.

No change is lost between a check and the wait: the snapshot is compared and the wait begins
with no ``await`` in between (``wait_change`` takes the current event before it suspends), and
after every write the loop checks again before waiting.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from local_bot_api.state import World

from .views import chat_view

TICK = 1.0  # seconds: how stale the modules panel may get
PING_EVERY = 15.0  # a comment line now and then finds closed tabs even when nothing changes


def _event(name: str, data: Any) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()


def _new_answers(world: World, user_id: int, seen: set[str]) -> list[dict[str, Any]]:
    toasts = []
    for record in world.callback_queries.values():
        if record.user_id != user_id or record.answer is None or record.id in seen:
            continue
        seen.add(record.id)
        if record.answer.get("text"):
            toasts.append({"text": record.answer["text"], "alert": bool(record.answer.get("show_alert"))})
    return toasts


async def event_stream(
    request: web.Request,
    world: World,
    user_id: int,
    modules: Callable[[], Awaitable[list[dict[str, Any]]]],
    closing: Callable[[], bool],
) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    # Answers given before this page connected were shown (or missed) already: no replay.
    seen = {r.id for r in world.callback_queries.values() if r.user_id == user_id and r.answer is not None}
    sent_chat: list[dict[str, Any]] | None = None
    sent_modules: list[dict[str, Any]] | None = None
    last_write = time.monotonic()
    try:
        await response.write(b"retry: 1000\n\n")  # reconnect fast after a restart of the demo
        while not closing() and not world.closing:
            panel = await modules()  # before the checks: nothing awaits between them and the wait
            chat, toasts = chat_view(world, user_id), _new_answers(world, user_id, seen)
            out = [_event("toast", t) for t in toasts]
            if chat != sent_chat:
                out.append(_event("chat", chat))
                sent_chat = chat
            if panel != sent_modules:
                out.append(_event("modules", panel))
                sent_modules = panel
            if not out and time.monotonic() - last_write >= PING_EVERY:
                out.append(b": ping\n\n")
            if out:
                await response.write(b"".join(out))
                last_write = time.monotonic()
                continue  # something may have changed during the write: look again before waiting
            await world.wait_change(TICK)
    except (ConnectionResetError, ConnectionError):
        pass  # the tab was closed
    return response
