"""``HookResults``: what ``run_hooks`` returns — a plain list that remembers who said what."""

from __future__ import annotations

from typing import Any

UNKNOWN_SOURCE = "?"


class HookResults(list[Any]):
    """The truthy results of one ``run_hooks`` call, in module load order.

    It is an ordinary list (core code indexes, iterates and slices it as upstream does);
    ``sources[i]`` names the module that produced ``self[i]`` so that ``insert_hook_buttons``
    can name the module when it drops an invalid operation.
    """

    def __init__(self, hook: str, items: list[tuple[str, Any]] | None = None) -> None:
        super().__init__(value for _, value in items or ())
        self.hook = hook
        self.sources = [source for source, _ in items or ()]

    def add(self, source: str, value: Any) -> None:
        self.append(value)
        self.sources.append(source)

    def source_of(self, index: int) -> str:
        return self.sources[index] if index < len(self.sources) else UNKNOWN_SOURCE


def attributed(results: list[Any]) -> list[tuple[str, Any]]:
    """Pairs ``(source, result)`` for any results list; plain lists get ``UNKNOWN_SOURCE``."""
    if isinstance(results, HookResults):
        return [(results.source_of(i), value) for i, value in enumerate(results)]
    return [(UNKNOWN_SOURCE, value) for value in results or ()]
