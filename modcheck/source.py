"""Reading a module folder: every Python file parsed once, syntax errors kept as findings."""

from __future__ import annotations

import ast
import io
import tokenize
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from .findings import Finding
from .imports import ImportMap

SKIPPED_DIRS = frozenset({"__pycache__", "node_modules"})


@dataclass
class SourceFile:
    """One ``.py`` file of a module; ``tree`` is None when it does not parse (``error`` says why)."""

    path: Path
    rel: str  # posix path inside the module folder, e.g. "router.py" or "keyboards/main.py"
    text: str
    tree: ast.Module | None
    error: Finding | None = None

    @property
    def stem(self) -> str:
        return Path(self.rel).stem

    @cached_property
    def imports(self) -> ImportMap:
        return ImportMap.of(self.tree) if self.tree is not None else ImportMap({})

    def finding(self, node: ast.AST | None, rule: str, message: str) -> Finding:
        line = getattr(node, "lineno", 1) or 1
        col = (getattr(node, "col_offset", 0) or 0) + 1
        return Finding(str(self.path), line, col, rule, message)

    @cached_property
    def noqa(self) -> dict[int, frozenset[str] | None]:
        """Line -> rule ids silenced by ``# noqa: SB002`` (None: a bare ``# noqa`` silences every rule)."""
        result: dict[int, frozenset[str] | None] = {}
        try:
            tokens = list(tokenize.generate_tokens(io.StringIO(self.text).readline))
        except (tokenize.TokenError, SyntaxError):
            return result
        for tok in tokens:
            if tok.type != tokenize.COMMENT:
                continue
            comment = tok.string.lstrip("#").strip()
            if not comment.lower().startswith("noqa"):
                continue
            rest = comment[4:].strip()
            if not rest.startswith(":"):
                result[tok.start[0]] = None
                continue
            codes = frozenset(code.strip().upper() for code in rest[1:].replace(",", " ").split())
            result[tok.start[0]] = codes
        return result

    def silenced(self, finding: Finding) -> bool:
        if finding.line not in self.noqa:
            return False
        codes = self.noqa[finding.line]
        return codes is None or finding.rule in codes


@dataclass
class ModuleSource:
    """A module folder ``modules/<name>/`` with its Python files parsed."""

    folder: Path
    files: dict[str, SourceFile] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.folder.name

    @classmethod
    def read(cls, folder: Path) -> ModuleSource:
        module = cls(folder)
        for path in sorted(folder.rglob("*.py")):
            rel_parts = path.relative_to(folder).parts
            if any(part in SKIPPED_DIRS or part.startswith(".") for part in rel_parts[:-1]):
                continue
            rel = "/".join(rel_parts)
            module.files[rel] = _parse(path, rel)
        return module

    def file(self, rel: str) -> SourceFile | None:
        return self.files.get(rel)

    def parsed(self) -> list[SourceFile]:
        return [f for f in self.files.values() if f.tree is not None]

    def path_of(self, rel: str) -> str:
        return str(self.folder / rel)

    def exists(self, rel: str) -> bool:
        return (self.folder / rel).exists()


def _parse(path: Path, rel: str) -> SourceFile:
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        error = Finding(str(path), 1, 1, "SB000", f"cannot read the file as UTF-8 ({exc}); save it as UTF-8")
        return SourceFile(path, rel, "", None, error)
    try:
        tree = ast.parse(text, filename=str(path))
    except SyntaxError as exc:
        line = exc.lineno or 1
        col = exc.offset or 1
        message = f"syntax error: {exc.msg}; fix it — the module cannot be imported at all"
        return SourceFile(path, rel, text, None, Finding(str(path), line, col, "SB000", message))
    except ValueError as exc:  # e.g. null bytes in the source
        return SourceFile(path, rel, text, None, Finding(str(path), 1, 1, "SB000", f"cannot parse: {exc}"))
    return SourceFile(path, rel, text, tree)
