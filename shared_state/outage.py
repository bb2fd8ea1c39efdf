"""One warning when Redis stops answering a mechanism, one line when it answers again — not one per call."""

from __future__ import annotations

import logging

log = logging.getLogger("solobot.shared_state")


class SharedStateUnavailable(RuntimeError):
    """Redis (``REDIS_URL``) did not answer a call whose mechanism cannot go on without it (the FSM)."""


class OutageLog:
    """``failed(exc)`` after a failed Redis call, ``recovered()`` after a good one; logs the transitions only."""

    def __init__(self, mechanism: str, meanwhile: str) -> None:
        self.mechanism = mechanism  # "throttling", "Bot API rate limits"…
        self.meanwhile = meanwhile  # what the mechanism does while Redis is away
        self.down = False

    def failed(self, exc: BaseException) -> None:
        if not self.down:
            self.down = True
            log.warning(
                "Redis unreachable for %s (%s: %s); meanwhile %s", self.mechanism, type(exc).__name__, exc, self.meanwhile
            )

    def recovered(self) -> None:
        if self.down:
            self.down = False
            log.warning("Redis reachable again for %s: shared by the workers again", self.mechanism)
