"""Hooks: registered through ``register_hook``, accepting ``**kwargs``, needing only what the core passes."""

from __future__ import annotations

import ast
import difflib
from collections.abc import Iterator

from ..astutil import FunctionNode
from ..findings import Finding
from ..hookinfo import HOOK_KWARGS, KNOWN_HOOKS, registrations
from ..source import ModuleSource, SourceFile

RULES = {
    "SB004": "a hook function does not accept **kwargs",
    "SB005": "a hook is not registered through register_hook (bare register_hook(name), private registry, "
    "unregistered *_hook function, misspelt hook name)",
    "SB006": "a hook function requires a parameter the core does not pass to that hook",
}

_REGISTER = "register hooks with register_hook(name, func)"


def check(module: ModuleSource) -> Iterator[Finding]:
    registered: set[str] = set()
    referenced: set[str] = set()
    for source in module.parsed():
        assert source.tree is not None
        for node in ast.walk(source.tree):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                referenced.add(node.id)
            elif isinstance(node, ast.Attribute):
                referenced.add(node.attr)
        yield from _registrations(source, source.tree, registered)
        yield from _private_registry(source, source.tree)
    for source in module.parsed():
        assert source.tree is not None
        yield from _unregistered(source, source.tree, registered, referenced)


def _registrations(source: SourceFile, tree: ast.Module, registered: set[str]) -> Iterator[Finding]:
    for reg in registrations(tree):
        if reg.func_name:
            registered.add(reg.func_name)
        if not reg.complete:
            yield source.finding(
                reg.node,
                "SB005",
                "register_hook(name) alone registers nothing: pass the function, register_hook(name, func), "
                "or use it as a decorator @register_hook(name)",
            )
            continue
        if reg.hook is not None and reg.hook not in KNOWN_HOOKS:
            close = difflib.get_close_matches(reg.hook, sorted(KNOWN_HOOKS), n=1, cutoff=0.85)
            if close:
                yield source.finding(
                    reg.node,
                    "SB005",
                    f"unknown hook {reg.hook!r}: did you mean {close[0]!r}? The core never fires {reg.hook!r}",
                )
        if reg.func is None:
            continue
        what = f"hook function {reg.func_name}" + (f" (registered for {reg.hook!r})" if reg.hook else "")
        args = reg.func.args
        if args.kwarg is None:
            yield source.finding(
                reg.func,
                "SB004",
                f"{what} must accept **kwargs: the core passes keyword arguments such as session, chat_id, admin — "
                "add **kwargs to its parameters",
            )
        yield from _required_parameters(source, reg.func, what, reg.hook)


def _required_parameters(source: SourceFile, func: FunctionNode | ast.Lambda, what: str, hook: str | None) -> Iterator[Finding]:
    args = func.args
    positional = [*args.posonlyargs, *args.args]
    required = positional[: len(positional) - len(args.defaults)]
    for arg in args.posonlyargs:
        if arg in required:
            yield source.finding(
                arg,
                "SB006",
                f"{what}: positional-only parameter {arg.arg!r} can never be passed (hooks get keyword arguments only)",
            )
    required_kw = [a for a, default in zip(args.kwonlyargs, args.kw_defaults, strict=True) if default is None]
    passed = HOOK_KWARGS.get(hook or "")
    if passed is None:
        return
    for arg in [*(a for a in required if a not in args.posonlyargs), *required_kw]:
        if arg.arg not in passed:
            yield source.finding(
                arg,
                "SB006",
                f"{what}: the core passes {', '.join(sorted(passed))} to {hook!r}, never {arg.arg!r} — "
                f"give it a default ({arg.arg}=None) or read it from kwargs",
            )


def _private_registry(source: SourceFile, tree: ast.Module) -> Iterator[Finding]:
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "hooks":
            for alias in node.names:
                if alias.name.startswith("_"):
                    yield source.finding(node, "SB005", f"{node.module}.{alias.name} is the core's private registry: {_REGISTER}")
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            qualified = source.imports.resolve(node)
            if qualified and qualified.split(".")[0] == "hooks":
                yield source.finding(node, "SB005", f"{qualified} is the core's private registry: {_REGISTER}")


def _unregistered(source: SourceFile, tree: ast.Module, registered: set[str], referenced: set[str]) -> Iterator[Finding]:
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or node.decorator_list:
            continue
        hook = node.name.removesuffix("_hook")
        if node.name != hook and hook in HOOK_KWARGS and node.name not in registered and node.name not in referenced:
            yield source.finding(
                node,
                "SB005",
                f"{node.name} looks like a {hook!r} hook but is never registered: add register_hook({hook!r}, {node.name})",
            )
