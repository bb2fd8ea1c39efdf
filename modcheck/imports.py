"""What each imported name stands for, so that ``dt.now`` resolves to ``datetime.datetime.now``."""

from __future__ import annotations

import ast
from dataclasses import dataclass

# Top-level packages and modules of the bot's core (this project's and upstream Solobot's).
CORE_PACKAGES = frozenset(
    {
        "bot",
        "config",
        "logger",
        "database",
        "handlers",
        "hooks",
        "filters",
        "middlewares",
        "utils",
        "panels",
        "payments",
        "keyboards",
        "servers",
        "backup",
        "core",
    }
)


@dataclass(frozen=True)
class ImportMap:
    """Local name -> qualified name, from every import in a file (scopes are not told apart).

    Relative imports keep their dots: ``from . import models`` maps ``models`` to ``.models``.
    """

    names: dict[str, str]

    @classmethod
    def of(cls, tree: ast.AST) -> ImportMap:
        names: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        names[alias.asname] = alias.name
                    else:
                        root = alias.name.split(".")[0]
                        names[root] = root
            elif isinstance(node, ast.ImportFrom):
                base = "." * node.level + (node.module or "")
                for alias in node.names:
                    if alias.name == "*":
                        continue
                    joined = f"{base}.{alias.name}" if base and not base.endswith(".") else f"{base}{alias.name}"
                    names[alias.asname or alias.name] = joined
        return cls(names)

    def resolve(self, node: ast.AST) -> str | None:
        """Dotted name of a ``Name``/``Attribute`` chain with its root import substituted, else None.

        ``sys.modules["handlers.start"].x`` resolves to ``handlers.start.x``.
        """
        parts: list[str] = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if isinstance(node, ast.Name):
            root = self.names.get(node.id, node.id)
        elif (
            isinstance(node, ast.Subscript)
            and isinstance(node.slice, ast.Constant)
            and isinstance(node.slice.value, str)
            and self.resolve(node.value) == "sys.modules"
        ):
            root = node.slice.value
        else:
            return None
        return ".".join([root, *reversed(parts)])

    def is_imported(self, name: str) -> bool:
        return name in self.names


def is_core(qualified: str | None) -> bool:
    """Whether a resolved dotted name belongs to the bot's core (not to the module, not a library)."""
    return qualified is not None and qualified.split(".")[0] in CORE_PACKAGES
