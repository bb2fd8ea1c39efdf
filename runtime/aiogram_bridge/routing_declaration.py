"""A module's own routing declaration: the ``[routing]`` table of its ``module.toml``.

::

    [routing]
    callback_prefixes = ["shop:", "pay|"]

The host reads the callback data a module's handlers name from its router
(``runtime.child.route_filters``); a handler whose filter it cannot read (a lambda, a filter
class of its own) only sees data the module owns, so such a module declares the prefixes of its
buttons here. A declared prefix is owned as if a handler named it (``callback_ownership``).

Declarations are checked across every module in the modules folder when a module starts: a
prefix that overlaps another module's declared prefix (one starts with the other) or another
module's name prefix (``"<other>|"``, ``"<other>:"``) keeps the declaring module from starting,
with both modules and both prefixes named — whichever starts first, so load order never decides.
Core screens stay grant-based (``override`` in ``modules.toml``): a declared prefix covering a
core screen's data does not give the module that screen.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from sandbox.module_requests import read_module_toml

from .callback_ownership import NAME_SEPARATORS

KEYS = ("callback_prefixes",)
MAX_PREFIXES = 32
MAX_CALLBACK_DATA = 64  # Telegram's limit, in bytes


def load_routing_declaration(module_dir: str | Path) -> tuple[str, ...]:
    """The callback prefixes ``module_dir/module.toml`` declares (none without the file or table).

    A mistake raises ``sandbox.permissions.PermissionsError`` with the file, line and what to write.
    """
    parsed = read_module_toml(module_dir)
    if parsed is None:
        return ()
    table = parsed.data.get("routing", {})
    if not isinstance(table, dict):
        raise parsed.error("routing must be a table: [routing] followed by callback_prefixes = [...]", "routing")
    for key in table:
        if key not in KEYS:
            raise parsed.error(f"unknown key {key!r} in [routing]; known keys: {', '.join(KEYS)}", "routing", key)
    prefixes = table.get("callback_prefixes", [])
    example = f'callback_prefixes = ["{parsed.module}:"]'
    if not isinstance(prefixes, list) or len(prefixes) > MAX_PREFIXES:
        raise parsed.error(f"callback_prefixes must be a list of at most {MAX_PREFIXES} texts, e.g. {example}", "routing")
    for prefix in prefixes:
        if not isinstance(prefix, str) or not 0 < len(prefix.encode()) < MAX_CALLBACK_DATA:
            raise parsed.error(
                f"callback_prefixes holds the start of its buttons' callback data (1-63 bytes), e.g. {example}, got {prefix!r}",
                "routing",
                "callback_prefixes",
            )
    return tuple(dict.fromkeys(prefixes))


def declaration_collisions(name: str, declared: tuple[str, ...], others: Mapping[str, tuple[str, ...]]) -> list[str]:
    """Why ``name`` must not start: each of its declared prefixes another module claims too (empty: none)."""
    problems = []
    for other, their_declared in sorted(others.items()):
        if other == name:
            continue
        theirs = [(p, "declared in its module.toml") for p in their_declared]
        theirs += [(f"{other}{separator}", "its name prefix") for separator in NAME_SEPARATORS]
        for mine in declared:
            for prefix, kind in theirs:
                if mine.startswith(prefix) or prefix.startswith(mine):
                    problems.append(
                        f"module.toml [routing]: callback prefix {mine!r} of module {name} collides with {prefix!r} of "
                        f"module {other} ({kind}): a button's data would belong to both — give each module its own "
                        f"prefix (e.g. '{name}:')"
                    )
    return problems
