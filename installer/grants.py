"""Writing what the operator granted into ``modules.toml``, with a comment naming the release.

``tomlkit`` edits the file in place: the operator's other tables and comments stay as they are;
only ``[modules.<name>]`` is replaced (or removed). The file is checked by the sandbox's own
reader before it replaces the old one, so a grant can never leave an unreadable file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomlkit

from sandbox.permissions import PermissionsError, load_operator_config

from .errors import InstallRefused


def _document(path: Path) -> tomlkit.TOMLDocument:
    try:
        return tomlkit.parse(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return tomlkit.document()
    except Exception as exc:  # tomlkit raises its own parse errors
        raise InstallRefused(f"{path}: не читается ({exc}) — исправьте файл и повторите.") from None


def _write(path: Path, document: tomlkit.TOMLDocument, module: str) -> None:
    text = tomlkit.dumps(document)
    fd, temporary = tempfile.mkstemp(prefix=".modules.toml.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    try:
        problem = load_operator_config(temporary).error(module)
    except PermissionsError as exc:
        problem = exc
    if problem is not None:
        os.unlink(temporary)
        raise InstallRefused(f"{module}: разрешения не записаны в {path.name} — {problem}")
    if path.exists():
        os.chmod(temporary, path.stat().st_mode & 0o777)
    os.replace(temporary, path)


def write_grant(path: Path, module: str, granted: Mapping[str, Any], label: str) -> None:
    """``[modules.<module>]`` = ``granted`` (replacing any earlier table), preceded by ``# label``."""
    document = _document(path)
    modules = document.get("modules")
    if modules is None:
        modules = tomlkit.table(is_super_table=True)
        document["modules"] = modules
    if module in modules:
        del modules[module]
    table = tomlkit.table()
    table.comment(label)
    for key, value in granted.items():
        table[key] = list(value) if isinstance(value, tuple) else value
    modules[module] = table
    _write(path, document, module)


def remove_grant(path: Path, module: str) -> None:
    document = _document(path)
    modules = document.get("modules")
    if modules is not None and module in modules:
        del modules[module]
        _write(path, document, module)


def snapshot(path: Path) -> str | None:
    """The file's text, to put back if what it was changed for fails."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def restore(path: Path, text: str | None) -> None:
    if text is None:
        path.unlink(missing_ok=True)
    else:
        path.write_text(text, encoding="utf-8")
