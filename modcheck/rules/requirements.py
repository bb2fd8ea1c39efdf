"""A module's own Python dependencies: declared where the bot looks, and usable as declared.

The bot gives a module the packages it declares in ``requirements.txt`` or ``[project]
dependencies`` of ``module.toml`` (installed by the operator with ``solobot modules deps NAME``);
anything else it imports must already be in the bot's environment, or the module fails at
import with ``ModuleNotFoundError`` on the operator's bot.
"""

from __future__ import annotations

import ast
import importlib.metadata
import sys
from collections.abc import Iterator
from functools import cache

from packaging.utils import canonicalize_name

from module_deps import RequirementsError, read_requirements

from ..findings import Finding
from ..imports import CORE_PACKAGES
from ..source import ModuleSource

RULES = {
    "SB030": "requirements.txt / module.toml [project] dependencies cannot be used (pip options, URLs, bad syntax)",
    "SB031": "imports a package that is neither in the bot's environment nor declared in requirements.txt",
}


def check(module: ModuleSource) -> Iterator[Finding]:
    try:
        declared = {canonicalize_name(r.name) for r in read_requirements(module.folder)}
    except RequirementsError as exc:
        yield Finding(module.path_of(exc.file), exc.line, 1, "SB030", str(exc))
        declared = set()
    local = _local_names(module)
    for source in module.parsed():
        if source.tree is None:  # parsed() returns only files that parse
            continue
        for node in ast.walk(source.tree):
            for root in _imported_roots(node):
                if root in local or root in CORE_PACKAGES or root in sys.stdlib_module_names or root == "modules":
                    continue
                if _in_environment(root) or canonicalize_name(root) in declared:
                    continue
                yield source.finding(
                    node,
                    "SB031",
                    f"imports {root!r}, which the bot does not have: declare its package in requirements.txt "
                    f"(the operator installs it with `solobot modules deps {module.name}`)",
                )


def describe(module: ModuleSource) -> str | None:
    """One line for the checker's report: what the module requires, and how it gets installed."""
    try:
        requirements = read_requirements(module.folder)
    except RequirementsError:
        return None
    if not requirements:
        return None
    listed = ", ".join(str(r) for r in requirements)
    return f"{module.name} requires {listed} (the operator installs them with `solobot modules deps {module.name}`)"


def _imported_roots(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name.split(".")[0] for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        return [node.module.split(".")[0]]
    return []


def _local_names(module: ModuleSource) -> set[str]:
    """Top-level names of the module's own files and folders (absolute imports of its own code)."""
    return {rel.split("/")[0].removesuffix(".py") for rel in module.files}


@cache
def _in_environment(root: str) -> bool:
    return root in _top_level_names()


@cache
def _top_level_names() -> frozenset[str]:
    return frozenset(importlib.metadata.packages_distributions()) | frozenset(sys.builtin_module_names)
