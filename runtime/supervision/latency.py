"""A small rolling window of hook latencies per module, for p50/p99 in ``status()``."""

from __future__ import annotations

from collections import deque


class LatencyWindow:
    def __init__(self, size: int = 512) -> None:
        self._samples: deque[float] = deque(maxlen=size)
        self.calls = 0
        self.errors = 0
        self.timeouts = 0

    def record(self, seconds: float) -> None:
        self._samples.append(seconds)
        self.calls += 1

    def percentile(self, q: float) -> float | None:
        if not self._samples:
            return None
        ordered = sorted(self._samples)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
