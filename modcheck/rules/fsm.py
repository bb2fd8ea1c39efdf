"""FSM: a module that puts users into a state must also have a way out (``state.clear()``)."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..astutil import is_none, keyword
from ..findings import Finding
from ..source import ModuleSource, SourceFile

RULES = {
    "SB007": "state.set_state(...) without any state.clear() (or set_state(None)) in the module: no cancel/back path",
}

_CLEARING_METHODS = frozenset({"clear", "reset_state", "finish"})


def _receiver_name(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _is_state_like(node: ast.AST) -> bool:
    name = _receiver_name(node).lower()
    return "state" in name or "fsm" in name or "context" in name or name == "ctx"


def _set_state_target(call: ast.Call) -> ast.AST | None:
    if call.args:
        return call.args[0]
    kw = keyword(call, "state")
    return kw.value if kw else None


def check(module: ModuleSource) -> Iterator[Finding]:
    sets: list[tuple[SourceFile, ast.Call]] = []
    clears = False
    for source in module.parsed():
        assert source.tree is not None
        for node in ast.walk(source.tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            method = node.func.attr
            if method == "set_state":
                target = _set_state_target(node)
                if target is None or is_none(target):
                    clears = True
                else:
                    sets.append((source, node))
            elif method in _CLEARING_METHODS and not node.args and _is_state_like(node.func.value):
                clears = True
    if clears:
        return
    for source, call in sets:
        yield source.finding(
            call,
            "SB007",
            "this sets an FSM state but the module never calls state.clear(): add a cancel/back button whose handler "
            "calls `await state.clear()`, and clear the state when the scenario ends or fails",
        )
