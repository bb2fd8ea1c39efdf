"""Core keyboards change only through the operation protocol: valid hook operations, no edits of existing markups."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..astutil import attribute_chain, root_name, scopes, str_value, walk_scope
from ..findings import Finding
from ..hookinfo import BUTTON_HOOKS, OPERATION_KEYS, registrations
from ..source import ModuleSource, SourceFile

RULES = {
    "SB009": "core keyboards changed outside the operation protocol (unknown operation keys in a button hook's "
    "result, edits of an existing message's reply_markup rows)",
}

_LIST_MUTATORS = frozenset({"append", "insert", "extend", "pop", "remove", "clear", "reverse", "sort", "__setitem__"})
_ROWS = frozenset({"inline_keyboard", "keyboard"})
_KNOWN = ", ".join(sorted(OPERATION_KEYS))


def check(module: ModuleSource) -> Iterator[Finding]:
    for source in module.parsed():
        assert source.tree is not None
        yield from _hook_operations(source, source.tree)
        yield from _markup_edits(source, source.tree)


def _returned_dicts(node: ast.AST) -> Iterator[ast.Dict]:
    if isinstance(node, ast.Dict):
        yield node
    elif isinstance(node, (ast.List, ast.Tuple)):
        for element in node.elts:
            yield from _returned_dicts(element)


def _hook_operations(source: SourceFile, tree: ast.Module) -> Iterator[Finding]:
    seen: set[int] = set()
    for reg in registrations(tree):
        if reg.hook not in BUTTON_HOOKS or reg.func is None or isinstance(reg.func, ast.Lambda):
            continue
        candidates: list[ast.Dict] = []
        for node in walk_scope(reg.func):
            if isinstance(node, ast.Return) and node.value is not None:
                candidates.extend(_returned_dicts(node.value))
            elif isinstance(node, ast.Dict) and any(str_value(k) in OPERATION_KEYS for k in node.keys):
                candidates.append(node)
        for op in candidates:
            if id(op) in seen or any(k is None or str_value(k) is None for k in op.keys):
                continue  # ``{**other}`` or computed keys: cannot tell
            seen.add(id(op))
            keys = [str_value(k) for k in op.keys]
            for key_node, key in zip(op.keys, keys, strict=True):
                if key not in OPERATION_KEYS:
                    yield source.finding(
                        key_node,
                        "SB009",
                        f"{key!r} is not a button operation ({reg.hook} results go through insert_hook_buttons): "
                        f"use one of {_KNOWN}",
                    )
            if ("after" in keys or "insert_at" in keys) and "button" not in keys:
                yield source.finding(
                    op,
                    "SB009",
                    "an 'after'/'insert_at' operation needs a 'button': add \"button\": InlineKeyboardButton(...)",
                )


def _markup_edits(source: SourceFile, tree: ast.Module) -> Iterator[Finding]:
    for scope in scopes(tree):
        tainted: dict[str, list[str]] = {}  # local name -> attribute chain of the existing markup it came from
        for node in walk_scope(scope):
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                chain = attribute_chain(node.value)
                if "reply_markup" in chain:
                    tainted[node.targets[0].id] = chain
        for node in walk_scope(scope):
            targets: list[ast.AST] = []
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _LIST_MUTATORS:
                targets = [node.func.value]
            elif isinstance(node, (ast.Assign, ast.Delete)):
                targets = [t for t in node.targets if isinstance(t, (ast.Subscript, ast.Attribute))]
            elif isinstance(node, ast.AugAssign) and isinstance(node.target, (ast.Subscript, ast.Attribute)):
                targets = [node.target]
            for target in targets:
                chain = attribute_chain(target)
                chain += tainted.get(root_name(target) or "", [])
                if "reply_markup" in chain and _ROWS & set(chain):
                    yield source.finding(
                        node,
                        "SB009",
                        "editing the rows of an existing message's keyboard bypasses the operation protocol: return "
                        '{"after"/"remove"/"button": ...} operations from a hook (profile_menu, view_key_menu…) instead',
                    )
                    break
