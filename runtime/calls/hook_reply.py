"""A module's reply to ``call_hook``: its truthy results and the failures of its hook functions.

Decoded on the host from an untrusted process: ``from_wire`` checks the shape and bounds the
texts, and raises ``ValueError`` on anything else. A module has a few hook functions, so a reply
keeps its first ``MAX_FAILURES`` failures and only counts the rest: one with thousands of them
costs the host a few log lines, not thousands.
"""

from __future__ import annotations

from typing import Any, NamedTuple

MAX_NAME = 100
MAX_TEXT = 2_000
MAX_FAILURES = 5  # failures kept (and logged in full) per reply; the rest are counted


class HookReply(NamedTuple):
    """A module's answer to ``call_hook``: truthy results and per-function failures (a NamedTuple: one per call)."""

    results: list[Any]
    failures: list[tuple[str, str, str, str]]
    more_failures: int = 0  # beyond MAX_FAILURES, or malformed: counted, not kept

    @classmethod
    def from_wire(cls, raw: Any) -> HookReply:
        if not (isinstance(raw, dict) and isinstance(raw.get("results"), list)):
            raise ValueError(f"a hook reply must be a map with a 'results' list, got {type(raw).__name__}")
        listed = raw.get("failures")
        if not listed:  # the common case
            return cls(raw["results"], [])
        failures: list[tuple[str, str, str, str]] = []
        more = 0
        for item in listed if isinstance(listed, list) else []:
            if (
                len(failures) < MAX_FAILURES
                and isinstance(item, list)
                and len(item) == 4
                and all(isinstance(x, str) for x in item)
            ):
                failures.append((item[0][: MAX_NAME * 2], item[1][:MAX_NAME], item[2][:MAX_TEXT], item[3][: MAX_TEXT * 8]))
            else:
                more += 1
        return cls(raw["results"], failures, more)
