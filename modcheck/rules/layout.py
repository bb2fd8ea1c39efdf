"""The seed's layout: ``router`` exported from ``__init__.py``, models imported there, texts/settings files, VERSION."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ..astutil import walk_scope
from ..findings import Finding
from ..source import ModuleSource, SourceFile

RULES = {
    "SB001": "router.py does not define `router`, or __init__.py does not export it (or either file is missing)",
    "SB013": "models.py exists but __init__.py does not import it (its tables would not be created)",
    "SB016": "the seed's layout: texts.py or settings.py missing, VERSION not a version number",
}

_VERSION = re.compile(r"\d+\.\d+(\.\d+)?([-+.]?[0-9A-Za-z.+-]+)?")


def check(module: ModuleSource) -> Iterator[Finding]:
    yield from _router(module)
    yield from _models_imported(module)
    yield from _layout_files(module)


def _missing(module: ModuleSource, rel: str, rule: str, message: str) -> Finding:
    return Finding(module.path_of(rel), 1, 1, rule, message)


def _binds(tree: ast.Module, name: str) -> bool:
    """Whether module-level code binds ``name`` (assignment, import, def, or a star import)."""
    for node in walk_scope(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and node.id == name:
            return True
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if (alias.asname or alias.name.split(".")[0]) == name or alias.name == "*":
                    return True
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return True
    return False


def _router(module: ModuleSource) -> Iterator[Finding]:
    init = module.file("__init__.py")
    router = module.file("router.py") or module.file("router/__init__.py")
    if init is None:
        yield _missing(
            module,
            "__init__.py",
            "SB001",
            "missing __init__.py: create it with `from .router import router` (the module is a package)",
        )
    elif init.tree is not None and not _binds(init.tree, "router"):
        yield init.finding(None, "SB001", "router is not exported: add `from .router import router` to __init__.py")
    if router is None:
        yield _missing(
            module,
            "router.py",
            "SB001",
            f"missing router.py: the loader imports modules.{module.name}.router — create it with `router = Router()`",
        )
    elif router.tree is not None and not _binds(router.tree, "router"):
        yield router.finding(None, "SB001", "router.py does not define `router`: add `router = Router()` (from aiogram)")


def _imports_models(init: SourceFile, module_name: str) -> bool:
    assert init.tree is not None
    for node in walk_scope(init.tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module is None and any(a.name == "models" for a in node.names):
                return True
            if node.level == 1 and node.module and node.module.split(".")[0] == "models":
                return True
            if node.level == 0 and node.module == f"modules.{module_name}" and any(a.name == "models" for a in node.names):
                return True
            if node.level == 0 and (node.module or "").startswith(f"modules.{module_name}.models"):
                return True
        if isinstance(node, ast.Import) and any(a.name.startswith(f"modules.{module_name}.models") for a in node.names):
            return True
    return False


def _models_imported(module: ModuleSource) -> Iterator[Finding]:
    init = module.file("__init__.py")
    if init is None or init.tree is None:
        return
    if not (module.file("models.py") or module.file("models/__init__.py")):
        return
    if not _imports_models(init, module.name):
        yield init.finding(
            None,
            "SB013",
            "models.py is not imported here: add `from . import models  # noqa: F401` so its tables join the metadata",
        )


def _layout_files(module: ModuleSource) -> Iterator[Finding]:
    for rel, what in (("texts.py", "user texts"), ("settings.py", "settings")):
        if module.file(rel) is None and module.file(rel.replace(".py", "/__init__.py")) is None:
            yield _missing(
                module,
                rel,
                "SB016",
                f"missing {rel}: the seed's layout keeps the module's {what} there (create it, even empty)",
            )
    version = module.folder / "VERSION"
    if version.is_file():
        try:
            text = version.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            text = ""
        if not _VERSION.fullmatch(text):
            yield Finding(str(version), 1, 1, "SB016", f"VERSION should hold a version number like 1.0.0, found {text[:40]!r}")
