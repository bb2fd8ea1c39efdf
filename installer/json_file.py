"""Small JSON files the installer keeps in ``<DATA_DIR>/catalog-client/``, written atomically.

A crash mid-write must never leave half a record: the new text goes to a temporary file in the
same folder, is fsync-ed and renamed over the old one.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger("solobot.installer")


def read_json(path: Path, default: dict[str, Any]) -> dict[str, Any]:
    """The object in ``path``; ``default`` when missing. An unreadable file is kept as ``.bad`` and reported."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return default
    except (OSError, ValueError) as exc:
        log.error("[catalog] cannot read %s (%s): kept as %s.bad, starting afresh", path, exc, path.name)
        os.replace(path, path.with_name(path.name + ".bad"))
        return default
    if not isinstance(data, dict):
        log.error("[catalog] %s is not a JSON object: kept as %s.bad, starting afresh", path, path.name)
        os.replace(path, path.with_name(path.name + ".bad"))
        return default
    return data


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix="." + path.name, dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
