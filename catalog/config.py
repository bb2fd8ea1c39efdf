"""The catalog's settings, from the environment (and ``.env``) like the bot's; every one has an embedded default."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


class CatalogConfigError(ValueError):
    """A setting the operator must fix; the message names it and says what is expected."""


@dataclass(frozen=True)
class CatalogSettings:
    data_dir: Path  # <DATA_DIR>/catalog: key, secret, files, embedded PostgreSQL
    database_url: str | None = None  # CATALOG_DATABASE_URL; None: embedded PostgreSQL in data_dir/postgres
    admin_ids: frozenset[int] = frozenset()  # CATALOG_ADMIN_IDS: moderators
    bot_token: str | None = None  # CATALOG_BOT_TOKEN: the Login Widget's hash key and the login-link bot
    bot_username: str | None = None  # CATALOG_BOT_USERNAME: for the widget and t.me links (asked from getMe otherwise)
    telegram_api_url: str | None = None  # CATALOG_TELEGRAM_API_URL: a local Bot API server (demo, tests)
    public_url: str = ""  # CATALOG_PUBLIC_URL: absolute links in the index; "": the address it listens on
    host: str = "127.0.0.1"
    port: int = 8100
    secret: str | None = None  # CATALOG_SECRET: cookie signing key; generated into data_dir when unset
    index_ttl: int = 7 * 24 * 3600  # seconds an index or revocation list stays valid after signing
    start_check: bool = True  # start every upload in a sandboxed process (off only in unit tests of other parts)
    limits: UploadLimits = field(default_factory=lambda: UploadLimits())

    @property
    def secure_cookies(self) -> bool:
        return self.public_url.startswith("https://")


@dataclass(frozen=True)
class UploadLimits:
    archive_bytes: int = 20 * 1024 * 1024
    entries: int = 2000
    unpacked_bytes: int = 50 * 1024 * 1024
    file_bytes: int = 10 * 1024 * 1024
    compression_ratio: int = 100  # a member whose unpacked size is over this many times its packed size is a bomb
    image_bytes: int = 5 * 1024 * 1024
    image_pixels: int = 40_000_000  # decoded only below this (8K is 33 Mpx)


def _ids(text: str, name: str) -> frozenset[int]:
    ids = set()
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        if not part.lstrip("-").isdigit():
            raise CatalogConfigError(f"{name}: {part!r} is not a Telegram user ID (comma-separated numbers, e.g. 12345,67890)")
        ids.add(int(part))
    return frozenset(ids)


def load_catalog_settings(env: Mapping[str, str] | None = None, *, data_dir: str | Path | None = None) -> CatalogSettings:
    """Settings from ``env`` (default: the process environment after ``.env``)."""
    if env is None:
        from dotenv import load_dotenv

        load_dotenv(override=False)
        env = os.environ
    base = Path(data_dir or env.get("DATA_DIR", "").strip() or "storage")
    port_text = env.get("CATALOG_PORT", "").strip() or "8100"
    if not port_text.isdigit() or not 0 <= int(port_text) < 65536:
        raise CatalogConfigError(f"CATALOG_PORT: {port_text!r} is not a port number (0-65535)")
    host = env.get("CATALOG_HOST", "").strip() or "127.0.0.1"
    public = env.get("CATALOG_PUBLIC_URL", "").strip()
    if public and not public.startswith(("http://", "https://")):
        raise CatalogConfigError(f"CATALOG_PUBLIC_URL: {public!r} must start with http:// or https://")
    return CatalogSettings(
        data_dir=(base / "catalog").resolve(),
        database_url=env.get("CATALOG_DATABASE_URL", "").strip() or None,
        admin_ids=_ids(env.get("CATALOG_ADMIN_IDS", ""), "CATALOG_ADMIN_IDS"),
        bot_token=env.get("CATALOG_BOT_TOKEN", "").strip() or None,
        bot_username=env.get("CATALOG_BOT_USERNAME", "").strip().lstrip("@") or None,
        telegram_api_url=env.get("CATALOG_TELEGRAM_API_URL", "").strip() or None,
        public_url=public.rstrip("/"),
        host=host,
        port=int(port_text),
        secret=env.get("CATALOG_SECRET", "").strip() or None,
    )
