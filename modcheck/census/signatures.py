"""Whether a function here accepts every call upstream's signature allows."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

UpstreamParam = Sequence[Any]  # [name, kind, has_default] as extract.py records them

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def signature_problem(func: Callable[..., Any], upstream: Sequence[UpstreamParam]) -> str | None:
    """None when ``func`` accepts the calls upstream's parameters allow, else what differs.

    Upstream positional parameters must be at the same position under the same name (modules
    call both ways); keyword-only ones must be accepted by name; a parameter optional upstream
    must be optional here; a parameter here that upstream lacks must be optional.
    """
    try:
        ours = list(inspect.signature(inspect.unwrap(func)).parameters.values())
    except (TypeError, ValueError):
        return None  # builtins and C callables: nothing to compare
    if ours and ours[0].name in ("self", "cls") and not any(p[0] == ours[0].name for p in upstream):
        ours = ours[1:]
    by_name = {p.name: p for p in ours}
    var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in ours)
    var_pos = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in ours)
    positional_here = [p for p in ours if p.kind in _POSITIONAL]
    index = 0
    for name, kind, has_default in upstream:
        if kind in ("VAR_POSITIONAL", "VAR_KEYWORD"):
            if kind == "VAR_POSITIONAL" and not var_pos:
                return f"upstream takes *{name}"
            if kind == "VAR_KEYWORD" and not var_kw:
                return f"upstream takes **{name}"
            continue
        param = by_name.get(name)
        if kind in ("POSITIONAL_ONLY", "POSITIONAL_OR_KEYWORD"):
            if index >= len(positional_here) or positional_here[index].name != name:
                found = positional_here[index].name if index < len(positional_here) else "nothing"
                return f"parameter {index + 1} is {name!r} upstream, {found!r} here"
            index += 1
        elif param is None and not var_kw:
            return f"keyword {name!r} is not accepted"
        if param is not None and has_default and param.default is inspect.Parameter.empty:
            return f"{name!r} is optional upstream, required here"
    upstream_names = {p[0] for p in upstream}
    for param in ours:
        if param.name in upstream_names or param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        if param.default is inspect.Parameter.empty:
            return f"{param.name!r} is required here but upstream has no such parameter"
    return None
