"""Package layering: the core's lower layers never import the handlers (no import cycle to hide)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# package → packages it must not import (at any level: a function-local import is still a cycle)
FORBIDDEN = {
    "middlewares": {"handlers"},
    "database": {"handlers", "middlewares", "filters"},
    "filters": {"handlers", "middlewares"},
}


def imported_packages(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_lower_layers_do_not_import_upper_ones(package: str) -> None:
    offenders = {
        str(path.relative_to(PROJECT_ROOT)): sorted(imported_packages(path) & FORBIDDEN[package])
        for path in sorted((PROJECT_ROOT / package).rglob("*.py"))
        if imported_packages(path) & FORBIDDEN[package]
    }
    assert offenders == {}
