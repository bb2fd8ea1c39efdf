"""Requests to the webhook path without the right secret: one warning per source, never the secret.

Anyone who learns the URL can post to it; the log must say that it happens and from where, but a
flood from one source (or from spoofed ``X-Forwarded-For`` values) must not flood the log.
"""

from __future__ import annotations

import logging

from aiohttp import web

log = logging.getLogger("solobot.webhook")

MAX_SOURCES = 1024  # sources remembered; past that, refusals are only counted


class RefusalLog:
    def __init__(self, max_sources: int = MAX_SOURCES) -> None:
        self._seen: set[str] = set()
        self._max_sources = max_sources
        self._overflow_logged = False
        self.refused = 0  # every refusal, logged or not

    def refuse(self, request: web.Request, reason: str) -> None:
        self.refused += 1
        source = _source(request)
        if source in self._seen:
            return
        if len(self._seen) >= self._max_sources:
            if not self._overflow_logged:
                self._overflow_logged = True
                log.warning("Telegram webhook: refusals from over %d sources; the rest are not logged", self._max_sources)
            return
        self._seen.add(source)
        log.warning(
            "Telegram webhook: refused a request from %s: %s (logged once per source; check WEBHOOK_SECRET if this is Telegram)",
            source,
            reason,
        )


def _source(request: web.Request) -> str:
    """The peer address, with the proxy's ``X-Forwarded-For`` (its claim, not a proof) when there is one."""
    peer = request.remote or "unknown peer"
    forwarded = request.headers.get("X-Forwarded-For", "").split(",", 1)[0].strip()
    return f"{forwarded} (via {peer})" if forwarded else peer
