"""Upstream names that do not exist here: imports (and ``config.X`` reads) of names upstream
Solobot has but this core does not provide, with the census's reason and replacement.

The census (``modcheck/census/census.json``) is read, not the core: the checker never imports
the code it judges against.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from ..census import Entry, load_census
from ..census.model import MISSING
from ..findings import Finding
from ..source import ModuleSource, SourceFile
from .secrets import SECRET_NAME

RULES = {
    "SB017": "imports an upstream Solobot name this core does not provide (the message says what to use instead)",
}


def check(module: ModuleSource) -> Iterator[Finding]:
    for source in module.parsed():
        assert source.tree is not None
        yield from _check_file(source, source.tree)


def _check_file(source: SourceFile, tree: ast.Module) -> Iterator[Finding]:
    census = load_census()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and census.knows_module(node.module):
            for alias in node.names:
                entry = census.lookup(node.module, alias.name)
                if _reportable(entry):
                    assert entry is not None
                    yield source.finding(node, "SB017", _message(entry))
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
            qualified = source.imports.resolve(node)
            if not qualified or "." not in qualified:
                continue
            owner, _, name = qualified.rpartition(".")
            entry = census.lookup(owner, name) if census.knows_module(owner) else None
            if _reportable(entry) and source.imports.is_imported(_root_name(node)):
                assert entry is not None
                yield source.finding(node, "SB017", _message(entry))


def _root_name(node: ast.AST) -> str:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else ""


def _reportable(entry: Entry | None) -> bool:
    # Secrets from config are SB015's (same advice); the rest of the census is this rule's.
    return entry is not None and entry.status == MISSING and not (entry.module == "config" and SECRET_NAME.search(entry.name))


def _message(entry: Entry) -> str:
    text = f"upstream's {entry.qualified} does not exist here: {entry.reason}"
    return f"{text} Instead: {entry.instead}" if entry.instead and entry.instead != "—" else text
