"""The rules, one file per group of the seed's publication checklist."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..findings import Finding
from ..source import ModuleSource
from . import (
    core_patching,
    fsm,
    hooks,
    keyboards,
    layout,
    network,
    requirements,
    schema,
    secrets,
    texts,
    timestamps,
    upstream_names,
)

Check = Callable[[ModuleSource], Iterable[Finding]]

_GROUPS = (
    layout,
    texts,
    hooks,
    fsm,
    core_patching,
    keyboards,
    network,
    timestamps,
    schema,
    secrets,
    requirements,
    upstream_names,
)

CHECKS: tuple[Check, ...] = tuple(group.check for group in _GROUPS)

_SYNTAX = {"SB000": "the file does not parse (syntax error) or is not UTF-8"}

RULES: dict[str, str] = dict(sorted({**_SYNTAX, **{k: v for g in _GROUPS for k, v in g.RULES.items()}}.items()))
