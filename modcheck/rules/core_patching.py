"""Monkey-patching the core: assignments to attributes of imported core modules and objects, setattr on them."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..astutil import call_name, str_value
from ..findings import Finding
from ..imports import is_core
from ..source import ModuleSource, SourceFile

RULES = {
    "SB008": "monkey-patching the core (assigning/deleting attributes or items of core modules, setattr on them)",
}

_ADVICE = (
    "in a module process this changes only the module's own copy of the core, the bot's screens stay as they are — "
    "use a hook (start_menu, profile_menu, view_key_menu, profile_text…) or handle the screen's callback in your router"
)


def check(module: ModuleSource) -> Iterator[Finding]:
    for source in module.parsed():
        assert source.tree is not None
        visitor = _Visitor(source)
        visitor.visit(source.tree)
        yield from visitor.findings


class _Visitor(ast.NodeVisitor):
    def __init__(self, source: SourceFile) -> None:
        self.source = source
        self.shadowed: list[set[str]] = [set()]
        self.findings: list[Finding] = []

    # Function parameters named like a core import (``bot``) are local values, not the core.
    def _visit_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        args = node.args
        names = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}
        names |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
        self.shadowed.append(names)
        self.generic_visit(node)
        self.shadowed.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _visit_function

    def _core_name(self, node: ast.AST) -> str | None:
        """How ``node`` reads when it is (part of) a core module or object reached through an import, else None."""
        base = node
        while isinstance(base, (ast.Attribute, ast.Subscript)):
            if isinstance(base, ast.Subscript) and self.source.imports.resolve(base.value) == "sys.modules":
                break
            base = base.value
        if isinstance(base, ast.Name):
            if not self.source.imports.is_imported(base.id) or any(base.id in s for s in self.shadowed):
                return None
            root = self.source.imports.names[base.id]
        elif isinstance(base, ast.Subscript):
            root = str_value(base.slice) or ""
        else:
            return None
        if not is_core(root):
            return None
        return self.source.imports.resolve(node) or ast.unparse(node)

    def _check_target(self, target: ast.AST, verb: str) -> None:
        if isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self._check_target(element, verb)
            return
        if isinstance(target, ast.Starred):
            self._check_target(target.value, verb)
            return
        if not isinstance(target, (ast.Attribute, ast.Subscript)):
            return
        if self._core_name(target.value) is None:
            return
        shown = self.source.imports.resolve(target) or ast.unparse(target)
        self.findings.append(self.source.finding(target, "SB008", f"{verb} {shown} patches the core: {_ADVICE}"))

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._check_target(target, "assigning")
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._check_target(node.target, "assigning")
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self._check_target(node.target, "assigning")
        self.generic_visit(node)

    def visit_Delete(self, node: ast.Delete) -> None:
        for target in node.targets:
            self._check_target(target, "deleting")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        if call_name(node) in ("setattr", "delattr") and isinstance(node.func, ast.Name) and node.args:
            core = self._core_name(node.args[0])
            if core is not None:
                self.findings.append(
                    self.source.finding(node, "SB008", f"{node.func.id}() on {core} patches the core: {_ADVICE}")
                )
        self.generic_visit(node)
