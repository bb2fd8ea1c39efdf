"""Build the census from the code: import each upstream module's counterpart here and look."""

from __future__ import annotations

import importlib
import inspect
from types import ModuleType
from typing import Any

from .model import MISSING, PROVIDED, Census, Decision, Entry, load_decisions, load_upstream
from .signatures import signature_problem

_ABSENT = object()


class CensusError(AssertionError):
    """The code and the census disagree in a way only a person can settle (message says what to do)."""


def import_counterpart(module: str) -> ModuleType | None:
    """This project's module named like upstream's, or None when there is none."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and (module == exc.name or module.startswith(exc.name + ".")):
            return None
        raise


def build_census() -> tuple[Census, list[str]]:
    """The census as the code stands, and the problems (signature mismatches, undecided names)."""
    upstream = load_upstream()
    decisions = load_decisions()
    entries: list[Entry] = []
    problems: list[str] = []
    for module, info in upstream["modules"].items():
        here = import_counterpart(module)
        for name, meta in info["names"].items():
            value = _ABSENT if here is None else _attribute(here, name)
            kind = meta.get("kind", "unknown")
            if value is not _ABSENT:
                if meta.get("params") is not None and callable(value) and not inspect.isclass(value):
                    problem = signature_problem(value, meta["params"])
                    if problem:
                        problems.append(f"{module}.{name}: signature differs from upstream: {problem}")
                entries.append(Entry(module, name, kind, PROVIDED))
                continue
            decision = _decide(decisions, module, name)
            if decision is None:
                problems.append(f"{module}.{name}: not provided and no reason in decisions.toml")
                entries.append(Entry(module, name, kind, MISSING))
            else:
                entries.append(Entry(module, name, kind, MISSING, decision.reason, decision.instead))
    return Census(upstream["upstream"], upstream["commit"], tuple(entries)), problems


def _attribute(module: ModuleType, name: str) -> Any:
    try:
        return getattr(module, name)
    except AttributeError:
        return _ABSENT
    except Exception:  # a lazy attribute (``bot.bot`` before a bot exists): it is there
        return None


def _decide(decisions: list[Decision], module: str, name: str) -> Decision | None:
    return next((d for d in decisions if d.matches(module, name)), None)
