"""Where the catalog keeps files (release archives, images): a small interface and the local folder behind it.

Only this interface is used by the rest of the catalog, so an S3-compatible store is one more
class here. Keys are relative POSIX paths the catalog builds itself (``releases/<module>/<v>.zip``);
a key from anywhere else is refused.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

_KEY = re.compile(r"^[a-z0-9_]+(/[A-Za-z0-9_.+-]+)+$")


class Storage(Protocol):
    def put(self, key: str, data: bytes) -> None: ...
    def get(self, key: str) -> bytes: ...
    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> None: ...


def check_key(key: str) -> str:
    if not _KEY.fullmatch(key) or any(part in {".", ".."} for part in key.split("/")):
        raise ValueError(f"invalid storage key {key!r}")
    return key


class LocalStorage:
    """Files under ``root`` (``<DATA_DIR>/catalog/files``); writes are atomic (temp file + rename)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def count(self) -> int:
        """How many files are stored (tests assert a refused upload left nothing)."""
        return sum(1 for p in self.root.rglob("*") if p.is_file())
