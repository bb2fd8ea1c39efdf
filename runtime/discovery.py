"""Finding modules in a folder without importing them (the host never imports module code)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MAX_VERSION_LENGTH = 64


def is_valid_module_name(name: str) -> bool:
    """Upstream's rule: an identifier, so no dots, slashes or dashes."""
    return bool(name) and name.isidentifier() and "." not in name and "/" not in name and "\\" not in name


@dataclass(frozen=True)
class ModuleSpec:
    name: str
    path: Path
    problem: str | None = None  # why it cannot be loaded at all (e.g. an invalid name)

    def version(self) -> str | None:
        """The first line of the module's ``VERSION`` file, as upstream reads it."""
        try:
            with open(self.path / "VERSION", encoding="utf-8", errors="replace") as f:
                text = f.read(MAX_VERSION_LENGTH * 4).strip()
        except OSError:
            return None
        first = text.splitlines()[0].strip() if text else ""
        return first[:MAX_VERSION_LENGTH] or None


# Files whose presence makes a folder look like a module someone meant to install.
MODULE_MARKERS = ("router.py", "module.toml", "VERSION", "requirements.txt", "settings.py", "texts.py")


def discover(modules_dir: str | Path) -> list[ModuleSpec]:
    """Module packages in ``modules_dir`` in load order (sorted by name, as pkgutil lists them).

    Upstream's loader skips, without a word, a folder that has no ``__init__.py`` and fails on a
    lone ``.py`` file; here both are listed with the problem (so they are ``failed`` by name, with
    what to fix), as long as they look like a module. Other folders (assets, caches) are ignored.
    """
    root = Path(modules_dir)
    if not root.is_dir():
        return []
    specs = []
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        if entry.name.startswith((".", "_")):
            continue
        problem = _problem(entry)
        if problem is _NOT_A_MODULE:
            continue
        name = entry.stem if entry.is_file() else entry.name
        if entry.is_file() and (root / name).is_dir():
            continue  # the folder of that name is the module; a stray file beside it is not
        specs.append(ModuleSpec(name, entry, problem))
    return specs


_NOT_A_MODULE = "not a module"


def _problem(entry: Path) -> str | None:
    if entry.is_file():
        if entry.suffix != ".py":
            return _NOT_A_MODULE
        return (
            f"{entry.name} is a single file in the modules folder, but a module is a folder: "
            f"move it to {entry.stem}/router.py and add {entry.stem}/__init__.py"
        )
    if not entry.is_dir():
        return _NOT_A_MODULE
    if not (entry / "__init__.py").is_file():
        if not any((entry / marker).is_file() for marker in MODULE_MARKERS) and not any(entry.glob("*.py")):
            return _NOT_A_MODULE
        return (
            f"folder {entry.name!r} has no __init__.py, so it cannot be imported as a module: "
            "add an __init__.py that imports its router (from .router import router)"
        )
    if not is_valid_module_name(entry.name):
        return f"folder name {entry.name!r} is not a valid module name: use letters, digits and underscores"
    return None
