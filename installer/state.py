"""What the bot remembers about the catalog between runs (``<DATA_DIR>/catalog-client/state.json``).

* the highest index and revocation-list versions accepted: anything older is a replay;
* the last verified bodies and their ETags, so an unchanged document costs a 304;
* when the catalog last answered with a valid document (the offline grace period counts from it);
* releases that failed to start (never retried automatically) and releases admins were told about.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from .json_file import read_json, write_json


class ClientState:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = read_json(path, {})

    def save(self) -> None:
        write_json(self.path, self.data)

    # ------------------------------------------------------------------ signed documents

    def seen_version(self, kind: str) -> int | None:
        value = self.data.get("seen", {}).get(kind)
        return value if isinstance(value, int) else None

    def cached(self, kind: str) -> tuple[str | None, bytes | None]:
        """``(etag, body)`` of the last verified ``kind`` document."""
        entry = self.data.get("cache", {}).get(kind) or {}
        body = entry.get("body")
        return entry.get("etag"), body.encode() if isinstance(body, str) else None

    def accept(self, kind: str, version: int, etag: str | None, body: bytes) -> None:
        self.data.setdefault("seen", {})[kind] = max(version, self.seen_version(kind) or 0)
        self.data.setdefault("cache", {})[kind] = {"etag": etag, "body": body.decode()}
        self.data["last_contact"] = int(time.time())
        self.save()

    def contacted(self) -> None:
        self.data["last_contact"] = int(time.time())
        self.save()

    @property
    def last_contact(self) -> int | None:
        value = self.data.get("last_contact")
        return value if isinstance(value, int) else None

    # ----------------------------------------------------------------------- releases

    def failed(self, module: str) -> dict[str, str]:
        """``{version: why it failed}`` for ``module``."""
        return dict(self.data.get("failed", {}).get(module, {}))

    def remember_failure(self, module: str, version: str, reason: str) -> None:
        self.data.setdefault("failed", {}).setdefault(module, {})[version] = reason[:2000]
        self.save()

    def forget_failure(self, module: str, version: str) -> None:
        if self.data.get("failed", {}).get(module, {}).pop(version, None) is not None:
            self.save()

    def was_notified(self, module: str, version: str) -> bool:
        return version in self.data.get("notified", {}).get(module, [])

    def mark_notified(self, module: str, version: str) -> None:
        self.data.setdefault("notified", {}).setdefault(module, []).append(version)
        self.save()

    # ----------------------------------------------------------------------- licences

    def stopped_for_licence(self) -> dict[str, str]:
        """Modules the licence check stopped: ``{module: why}``."""
        return dict(self.data.get("licence_stopped", {}))

    def set_licence_stopped(self, module: str, reason: str | None) -> None:
        stopped = self.data.setdefault("licence_stopped", {})
        if reason is None:
            if stopped.pop(module, None) is None:
                return
        else:
            stopped[module] = reason
        self.save()
