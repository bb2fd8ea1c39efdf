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


def discover(modules_dir: str | Path) -> list[ModuleSpec]:
    """Module packages in ``modules_dir`` in load order (sorted by name, as pkgutil lists them)."""
    root = Path(modules_dir)
    if not root.is_dir():
        return []
    specs = []
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        if entry.name.startswith((".", "_")) or not entry.is_dir():
            continue
        if not (entry / "__init__.py").is_file():
            continue
        problem = None
        if not is_valid_module_name(entry.name):
            problem = f"folder name {entry.name!r} is not a valid module name: use letters, digits and underscores"
        specs.append(ModuleSpec(entry.name, entry, problem))
    return specs
