"""Which modules came from the catalog, at which release (``<DATA_DIR>/catalog-client/installed.json``).

One record per module: ``{version, sha256, source, installed_at, licence_id, previous}``, where
``previous`` is the release kept on disk for a one-step rollback (``{version, sha256}`` or null).
A module folder without a record was put there by hand: the installer never replaces it without
the operator's confirmation.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .json_file import read_json, write_json


@dataclass(frozen=True)
class Installed:
    version: str
    sha256: str
    source: str  # the catalog's URL
    installed_at: int
    licence_id: str | None = None
    paid: bool = False
    previous: dict[str, str] | None = None  # {"version", "sha256"} of the release kept for rollback


class InstallRecords:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._data = read_json(path, {"modules": {}})

    def get(self, module: str) -> Installed | None:
        entry = self._data.get("modules", {}).get(module)
        if not isinstance(entry, dict):
            return None
        try:
            return Installed(**entry)
        except TypeError:
            return None

    def all(self) -> dict[str, Installed]:
        return {name: record for name in self._data.get("modules", {}) if (record := self.get(name)) is not None}

    def put(self, module: str, record: Installed) -> None:
        self._data.setdefault("modules", {})[module] = asdict(record)
        write_json(self.path, self._data)

    def drop(self, module: str) -> None:
        if self._data.get("modules", {}).pop(module, None) is not None:
            write_json(self.path, self._data)


def new_record(version: str, sha256: str, source: str, **rest: Any) -> Installed:
    return Installed(version=version, sha256=sha256, source=source, installed_at=int(time.time()), **rest)
