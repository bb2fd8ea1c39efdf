"""Whose callback buttons are whose: a sandboxed module gets only callback queries it owns.

A module owns the callback data its handlers name (``F.data == "victim|open"``,
``F.data.startswith("counter|")`` — read from its router by ``runtime.child.route_filters``),
the prefixes its ``module.toml`` declares (``[routing] callback_prefixes = ["pay|"]``, for
handlers whose filters cannot be read; ``routing_declaration.py``: a declared prefix another
module claims keeps it from starting) and its own name prefix (``"<name>|"``, ``"<name>:"``).
A handler without a readable data filter (a catch-all) only ever sees data the module owns.

Callback data the core's own screens use (read from the core's routers the same way) goes to a
module only where the operator grants it: ``override = ["about_vpn"]`` in ``modules.toml``
(upstream modules do replace core screens; the grant keeps that possible and visible).

Two modules claiming the same data: the one whose name prefix it carries owns it; otherwise
neither gets it — load order never decides who gets another module's buttons. Both are
reported when the second one starts (``collisions``).

Trusted modules and a bare runtime (no sandbox) keep upstream's routing: first match wins.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

NAME_SEPARATORS = ("|", ":")


@dataclass(frozen=True, slots=True)
class CallbackClaims:
    exact: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()

    def accepts(self, data: str) -> bool:
        return data in self.exact or (bool(self.prefixes) and data.startswith(self.prefixes))

    def overlap(self, other: CallbackClaims) -> str | None:
        """A value or prefix both claim (``None``: disjoint)."""
        for value in sorted(self.exact):
            if other.accepts(value):
                return value
        for value in sorted(other.exact):
            if self.accepts(value):
                return value
        for mine in self.prefixes:
            for theirs in other.prefixes:
                if mine.startswith(theirs) or theirs.startswith(mine):
                    return max(mine, theirs, key=len) + "…"
        return None


def module_claims(name: str, from_code: CallbackClaims, declared_prefixes: Iterable[str] = ()) -> CallbackClaims:
    own = tuple(f"{name}{separator}" for separator in NAME_SEPARATORS)
    return CallbackClaims(from_code.exact, (*from_code.prefixes, *declared_prefixes, *own))


def name_owner(data: str, modules: Iterable[str]) -> str | None:
    """The module whose name prefix ``data`` carries, if any."""
    for module in modules:
        if data.startswith(tuple(f"{module}{separator}" for separator in NAME_SEPARATORS)):
            return module
    return None


@dataclass(frozen=True, slots=True)
class ModuleRouting:
    """One sandboxed module's claims and the core screens the operator granted it."""

    name: str
    claims: CallbackClaims
    overrides: tuple[str, ...] = ()
    declared: tuple[str, ...] = ()  # the prefixes its module.toml declares (also in ``claims``)

    def may_receive(self, data: str, core: CallbackClaims) -> bool:
        if not self.claims.accepts(data):
            return False
        return not core.accepts(data) or data in self.overrides


def owner_of(data: str, claimants: list[str]) -> str | None:
    """Of several modules that may receive ``data``: its name owner, or nobody when it is disputed."""
    if len(claimants) <= 1:
        return claimants[0] if claimants else None
    return name_owner(data, claimants)


def collisions(starting: ModuleRouting, running: Iterable[ModuleRouting]) -> list[str]:
    """Lines for the operator: what the starting module claims that another running one does too."""
    lines = []
    for other in running:
        if other.name == starting.name:
            continue
        shared = starting.claims.overlap(other.claims)
        if shared is None:
            continue
        owner = name_owner(shared.rstrip("…"), (starting.name, other.name))
        verdict = f"it carries module {owner}'s name, only {owner} gets it" if owner else "neither module gets it"
        lines.append(
            f"callback data {shared!r} is claimed by modules {starting.name} and {other.name}: {verdict}; "
            f"give each module's buttons its own prefix (e.g. '{starting.name}|…')"
        )
    return lines
