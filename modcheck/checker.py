"""``check_module`` / ``check_paths``: run every rule over module folders."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from .findings import Finding
from .rules import CHECKS, RULES
from .source import SKIPPED_DIRS, ModuleSource


class UsageError(ValueError):
    """A path that is neither a module folder nor a folder of modules; ``str()`` says what to pass instead."""


def is_module_folder(path: Path) -> bool:
    return (path / "__init__.py").is_file() or (path / "router.py").is_file() or (path / "router").is_dir()


def _looks_like_module(path: Path) -> bool:
    if path.name in SKIPPED_DIRS or path.name.startswith((".", "_")):
        return False
    return is_module_folder(path) or any(path.glob("*.py")) or (path / "VERSION").is_file()


def module_folders(path: str | Path) -> list[Path]:
    """The module folders ``path`` stands for: itself, or its sub-folders that look like modules."""
    folder = Path(path)
    if not folder.exists():
        raise UsageError(f"{folder}: no such directory — pass a module folder (modules/<name>) or a folder of modules")
    if not folder.is_dir():
        raise UsageError(f"{folder}: not a directory — pass the module's folder, not one of its files")
    if is_module_folder(folder):
        return [folder]
    found = sorted(child for child in folder.iterdir() if child.is_dir() and _looks_like_module(child))
    if not found:
        raise UsageError(f"{folder}: no modules here — expected __init__.py/router.py, or sub-folders holding modules")
    return found


def check_module(path: str | Path, *, ignore: Iterable[str] = ()) -> list[Finding]:
    """Findings for one module folder, sorted; ``# noqa: SBxxx`` comments and ``ignore`` rule ids silence findings."""
    folder = Path(path)
    if not folder.is_dir():
        raise UsageError(f"{folder}: not a module folder")
    module = ModuleSource.read(folder)
    ignored = {rule.upper() for rule in ignore}
    findings: set[Finding] = {f.error for f in module.files.values() if f.error is not None}
    for check in CHECKS:
        findings.update(check(module))
    by_path = {str(source.path): source for source in module.files.values()}
    return sorted(
        f
        for f in findings
        if f.rule not in ignored and not (f.file in by_path and f.rule != "SB000" and by_path[f.file].silenced(f))
    )


def check_paths(paths: Sequence[str | Path], *, ignore: Iterable[str] = ()) -> list[Finding]:
    """Findings for every module under ``paths`` (module folders or folders of modules); UsageError for a bad path."""
    folders: list[Path] = []
    for path in paths:
        folders.extend(module_folders(path))
    findings: list[Finding] = []
    for folder in dict.fromkeys(folders):
        findings.extend(check_module(folder, ignore=ignore))
    return sorted(findings)


__all__ = ["RULES", "UsageError", "check_module", "check_paths", "module_folders"]
