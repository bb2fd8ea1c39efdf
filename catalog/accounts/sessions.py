"""Sessions in signed cookies (itsdangerous) and the CSRF token every form carries.

The cookie holds ``{"uid": tg_id | None, "csrf": token}``, signed with the catalog's secret and
dated (stale after 30 days); it is HttpOnly, SameSite=Lax, and Secure when the catalog is served
over https. The CSRF token is per session and compared with ``hmac.compare_digest``.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE = "catalog_session"
MAX_AGE = 30 * 24 * 3600
SECRET_FILE = "session.secret"


def load_secret(configured: str | None, folder: Path) -> str:
    """``CATALOG_SECRET``, else a random secret kept in ``folder`` (0600), created on first start."""
    if configured:
        return configured
    path = folder / SECRET_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        secret = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secret)
        return secret


class SessionCodec:
    def __init__(self, secret: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="catalog-session")

    def load(self, cookie: str | None) -> tuple[dict[str, Any], bool]:
        """The session in ``cookie`` and False; a new anonymous session and True when it is missing, forged or stale."""
        if cookie:
            try:
                data = self._serializer.loads(cookie, max_age=MAX_AGE)
                if isinstance(data, dict) and isinstance(data.get("csrf"), str):
                    return data, False
            except BadSignature:
                pass
        return {"uid": None, "csrf": secrets.token_urlsafe(24)}, True

    def dump(self, data: dict[str, Any]) -> str:
        return self._serializer.dumps(data)


def csrf_ok(session: dict[str, Any], given: str | None) -> bool:
    expected = session.get("csrf") or ""
    return bool(given) and bool(expected) and hmac.compare_digest(str(given), str(expected))
