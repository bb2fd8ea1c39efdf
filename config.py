"""Bot configuration: ``load_settings()`` for the host, upstream's module-level names for modules.

Two audiences with different needs:

* the host calls :func:`load_settings`, which validates everything (the bot token, the
  database URL ...) and raises :class:`ConfigError` with a one-line message naming the variable;
* module code does ``from config import ADMIN_ID, SUPPORT_CHAT_URL`` as with upstream. Those
  names are computed at import from the environment and never fail (bad values fall back to
  defaults). In a module process, whose environment is scrubbed, the host's values are installed
  with :func:`apply_public_settings` before the module is imported.

The bot token and the database URL are deliberately never module-level attributes here: module
processes import this file and must not find secrets in it.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A configuration value is missing or invalid; ``str()`` is one line naming the variable."""


MISSING_BOT_TOKEN = "BOT_TOKEN is missing: set it in the environment or in .env (format 123456:ABC...)"
MODULES_STATE_FILE_NAME = "modules_state.json"


# --- parsers: (variable name, raw string) -> value, ConfigError on nonsense -------------------


def _fail(name: str, problem: str) -> ConfigError:
    return ConfigError(f"{name} {problem}")


def _text(name: str, raw: str) -> str:
    return raw.strip()


def _int(name: str, raw: str, minimum: int = 0, maximum: int | None = None) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise _fail(name, f"must be a whole number, got {raw!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        upper = "" if maximum is None else f" and at most {maximum}"
        raise _fail(name, f"must be at least {minimum}{upper}, got {value}")
    return value


def _positive_int(name: str, raw: str) -> int:
    return _int(name, raw, minimum=1)


def _port(name: str, raw: str) -> int:
    return _int(name, raw, minimum=0, maximum=65535)  # 0: any free port (tests, side-by-side demos)


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise _fail(name, f"must be true or false, got {raw!r}")


def _admin_ids(name: str, raw: str) -> tuple[int, ...]:
    ids: list[int] = []
    for part in re.split(r"[,\s;]+", raw.strip()):
        if not part:
            continue
        if not re.fullmatch(r"\d{1,20}", part):
            raise _fail(name, f"must be comma-separated Telegram user ids (e.g. 123456789,987654321), got {part!r}")
        ids.append(int(part))
    return tuple(ids)


def _referral_percentages(name: str, raw: str) -> dict[int, float]:
    """``0.25,0.1,0.05`` (level 1, 2, 3 ...) or JSON ``{"1": 0.25, "2": 0.1}``; a share of each payment."""
    raw = raw.strip()
    try:
        if raw.startswith("{"):
            items = [(int(k), float(v)) for k, v in json.loads(raw).items()]
        else:
            items = [(level, float(v)) for level, v in enumerate(filter(None, re.split(r"[,\s;]+", raw)), start=1)]
    except (ValueError, TypeError, AttributeError):
        raise _fail(name, f'must be shares per referral level like 0.25,0.1,0.05 or JSON {{"1": 0.25}}, got {raw!r}') from None
    for level, share in items:
        if level < 1 or not 0 <= share <= 1:
            raise _fail(name, f"levels start at 1 and shares are between 0 and 1 (0.25 = 25%), got {level}: {share}")
    return dict(items)


_TOKEN = re.compile(r"\d+:\S+")


def _bot_token(name: str, raw: str) -> str:
    token = raw.strip()
    if not _TOKEN.fullmatch(token):
        # Never echo the value: it may be a real (if mangled) secret.
        raise _fail(name, "is malformed: expected <bot id>:<secret> as given by @BotFather (format 123456:ABC...)")
    return token


def _http_url(name: str, raw: str) -> str:
    url = raw.strip().rstrip("/")
    if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", url):
        raise _fail(name, f"must be an http(s):// URL, got {raw!r}")
    return url


def _database_url(name: str, raw: str) -> str:
    url = raw.strip()
    scheme, sep, rest = url.partition("://")
    if not sep or not rest:
        raise _fail(
            name, "must look like postgresql+asyncpg://user:password@host:5432/dbname (unset it for the embedded PostgreSQL)"
        )
    if scheme in ("postgresql", "postgres"):
        # Plain libpq-style URLs are what hosting panels hand out; SQLAlchemy needs the driver named.
        scheme = "postgresql+asyncpg"
    if scheme != "postgresql+asyncpg":
        raise _fail(name, f"must use PostgreSQL through asyncpg (postgresql+asyncpg://...), got scheme {scheme!r}")
    return f"{scheme}://{rest}"


def _redis_url(name: str, raw: str) -> str:
    url = raw.strip()
    if not re.fullmatch(r"rediss?://\S+|unix://\S+", url):
        raise _fail(name, f"must be a redis://host:6379/0 URL, got {raw!r}")
    return url


# --- the settings --------------------------------------------------------------------------

Parser = Callable[[str, str], Any]


def _env(var: str, parse: Parser, public: str | None = None, default: Any = None) -> Any:
    """A dataclass field read from environment variable ``var``; ``public`` is its upstream module-level name."""
    metadata = {"env": var, "parse": parse, "public": public}
    if isinstance(default, (dict, list, tuple)):
        return field(default_factory=lambda: type(default)(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Settings:
    # Secrets: the host only. Never copied to module processes or to module-level names.
    bot_token: str | None = _env("BOT_TOKEN", _bot_token)
    database_url: str | None = _env("DATABASE_URL", _database_url)
    redis_url: str | None = _env("REDIS_URL", _redis_url)

    # Host wiring
    telegram_api_url: str | None = _env("TELEGRAM_API_URL", _http_url)  # a local Bot API server
    modules_dir: str = _env("MODULES_DIR", _text, default="modules")
    web_host: str = _env("WEB_HOST", _text, default="127.0.0.1")
    web_port: int = _env("WEB_PORT", _port, default=8080)
    data_dir: str = _env("DATA_DIR", _text, default="storage")  # embedded PostgreSQL in <data_dir>/postgres
    modules_state_file: str | None = _env("MODULES_STATE_FILE", _text)  # unset: <data_dir>/modules_state.json

    # Non-secret values upstream modules import from ``config``
    admin_ids: tuple[int, ...] = _env("ADMIN_IDS", _admin_ids, "ADMIN_ID", default=())
    username_bot: str = _env("USERNAME_BOT", _text, "USERNAME_BOT", default="")
    project_name: str = _env("PROJECT_NAME", _text, "PROJECT_NAME", default="Solobot")
    support_chat_url: str = _env("SUPPORT_CHAT_URL", _http_url, "SUPPORT_CHAT_URL", default="https://t.me/")
    channel_url: str = _env("CHANNEL_URL", _http_url, "CHANNEL_URL", default="https://t.me/")
    channel_exists: bool = _env("CHANNEL_EXISTS", _bool, "CHANNEL_EXISTS", default=False)
    channel_required: bool = _env("CHANNEL_REQUIRED", _bool, "CHANNEL_REQUIRED", default=False)
    channel_id: str = _env("CHANNEL_ID", _text, "CHANNEL_ID", default="")
    trial_time: int = _env("TRIAL_TIME", _int, "TRIAL_TIME", default=3)  # days; 0 disables the trial
    notification_time: int = _env("NOTIFICATION_TIME", _positive_int, "NOTIFICATION_TIME", default=3600)  # loop period, s
    referral_bonus_percentages: Mapping[int, float] = _env(
        "REFERRAL_BONUS_PERCENTAGES", _referral_percentages, "REFERRAL_BONUS_PERCENTAGES", default={1: 0.25, 2: 0.1, 3: 0.05}
    )
    instructions_url: str = _env("INSTRUCTIONS_URL", _http_url, "INSTRUCTIONS_URL", default="https://telegra.ph/")
    connect_android: str = _env("CONNECT_ANDROID", _text, "CONNECT_ANDROID", default="v2raytun://import/")
    connect_ios: str = _env("CONNECT_IOS", _text, "CONNECT_IOS", default="v2raytun://import/")
    connect_windows: str = _env("CONNECT_WINDOWS", _text, "CONNECT_WINDOWS", default="hiddify://import/")
    connect_macos: str = _env("CONNECT_MACOS", _text, "CONNECT_MACOS", default="v2raytun://import/")
    download_android: str = _env(
        "DOWNLOAD_ANDROID",
        _http_url,
        "DOWNLOAD_ANDROID",
        default="https://play.google.com/store/apps/details?id=com.v2raytun.android",
    )
    download_ios: str = _env(
        "DOWNLOAD_IOS", _http_url, "DOWNLOAD_IOS", default="https://apps.apple.com/app/v2raytun/id6476628951"
    )
    download_pc: str = _env("DOWNLOAD_PC", _http_url, "DOWNLOAD_PC", default="https://github.com/hiddify/hiddify-app/releases")
    download_macos: str = _env(
        "DOWNLOAD_MACOS", _http_url, "DOWNLOAD_MACOS", default="https://apps.apple.com/app/v2raytun/id6476628951"
    )

    def __repr__(self) -> str:
        # Settings end up in logs and tracebacks: show that secrets are set, never their values.
        shown = ", ".join(f"{f.name}={_redacted(f.name, getattr(self, f.name))!r}" for f in fields(self))
        return f"Settings({shown})"

    @property
    def bot_id(self) -> int | None:
        """The numeric part of the token (public: it is the bot's user id)."""
        return int(self.bot_token.split(":", 1)[0]) if self.bot_token else None

    @property
    def embedded_pg_dir(self) -> Path:
        return Path(self.data_dir) / "postgres"

    @property
    def modules_state_path(self) -> Path:
        """Which modules the operator stopped: ``MODULES_STATE_FILE``, else ``<DATA_DIR>/modules_state.json``."""
        return Path(self.modules_state_file) if self.modules_state_file else Path(self.data_dir) / MODULES_STATE_FILE_NAME

    def required_bot_token(self) -> str:
        """The bot token, or :class:`ConfigError` saying how to set it (for code that talks to Telegram)."""
        if not self.bot_token:
            raise ConfigError(MISSING_BOT_TOKEN)
        return self.bot_token


SECRET_FIELDS = frozenset({"bot_token", "database_url", "redis_url"})


def _redacted(name: str, value: Any) -> Any:
    return "***" if name in SECRET_FIELDS and value else value


def _public_fields() -> dict[str, str]:
    """Upstream module-level name → ``Settings`` field."""
    return {f.metadata["public"]: f.name for f in fields(Settings) if f.metadata.get("public")}


PUBLIC_NAMES: Mapping[str, str] = _public_fields()


def _read_environment(environ: Mapping[str, str] | None, env_file: str | Path | None) -> dict[str, str]:
    merged: dict[str, str] = {}
    if env_file is not None and Path(env_file).is_file():
        from dotenv import dotenv_values

        merged.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    merged.update(os.environ if environ is None else environ)  # the real environment wins over .env
    return merged


# Spellings upstream installs use for the same variable.
_ALIASES = {"ADMIN_IDS": "ADMIN_ID", "BOT_TOKEN": "API_TOKEN"}


def _lookup(source: Mapping[str, str], var: str) -> str | None:
    """The non-empty value of ``var`` (or of its upstream alias); empty counts as unset."""
    for name in (var, _ALIASES.get(var)):
        raw = source.get(name) if name else None
        if raw is not None and raw.strip():
            return raw
    return None


def load_settings(
    environ: Mapping[str, str] | None = None,
    env_file: str | Path | None = ".env",
    *,
    require_token: bool = True,
) -> Settings:
    """Validated settings from ``environ`` (default ``os.environ``) over ``env_file`` if it exists.

    ``require_token=False`` is for tools that never talk to Telegram (migrations, the runtime
    demo). Empty values count as unset. Raises :class:`ConfigError` (one line) on the first bad value.
    """
    source = _read_environment(environ, env_file)
    values: dict[str, Any] = {}
    for f in fields(Settings):
        var = f.metadata["env"]
        raw = _lookup(source, var)
        if raw is None:
            continue
        values[f.name] = f.metadata["parse"](var, raw)
    settings = Settings(**values)
    if require_token:
        settings.required_bot_token()
    return settings


def _lenient_settings() -> Settings:
    """Settings for the module-level names: never fails; a bad variable keeps its default."""
    try:
        source = _read_environment(None, ".env")
    except Exception:  # an unreadable .env must not break ``import config``
        source = dict(os.environ)
    values: dict[str, Any] = {}
    for f in fields(Settings):
        if not f.metadata.get("public"):
            continue
        var = f.metadata["env"]
        raw = _lookup(source, var)
        if raw is not None:
            try:
                values[f.name] = f.metadata["parse"](var, raw)
            except ConfigError:
                pass
    return Settings(**values)


def _msgpack_friendly(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, dict):
        return dict(value)
    return value


def public_settings(settings: Settings) -> dict[str, Any]:
    """Upstream names → values, for module processes (msgpack-friendly; never a secret)."""
    return {name: _msgpack_friendly(getattr(settings, attr)) for name, attr in PUBLIC_NAMES.items()}


def apply_public_settings(values: Mapping[str, Any]) -> None:
    """Set this module's upstream names (``ADMIN_ID`` ...) from :func:`public_settings` output.

    Only known public names are applied; anything else (a token, a DSN) is ignored, so a
    confused caller cannot plant a secret where module code would read it.
    """
    module = sys.modules[__name__]
    for name, value in values.items():
        if name not in PUBLIC_NAMES:
            continue
        current = getattr(module, name, None)
        if name == "ADMIN_ID":
            # Upstream's type is a list (modules do `in ADMIN_ID`). Updated in place so code that
            # did `from config import ADMIN_ID` before the host loaded its settings sees them too.
            ids = [int(v) for v in value]
            if isinstance(current, list):
                current[:] = ids
                continue
            value = ids
        elif name == "REFERRAL_BONUS_PERCENTAGES":
            shares = {int(k): float(v) for k, v in dict(value).items()}
            if isinstance(current, dict):
                current.clear()
                current.update(shares)
                continue
            value = shares
        setattr(module, name, value)


# --- upstream module-level names (no secrets) ------------------------------------------------

ADMIN_ID: list[int] = []
USERNAME_BOT: str = ""
PROJECT_NAME: str = ""
SUPPORT_CHAT_URL: str = ""
CHANNEL_URL: str = ""
CHANNEL_EXISTS: bool = False
CHANNEL_REQUIRED: bool = False
CHANNEL_ID: str = ""
TRIAL_TIME: int = 3
NOTIFICATION_TIME: int = 3600
REFERRAL_BONUS_PERCENTAGES: dict[int, float] = {}
INSTRUCTIONS_URL: str = ""
CONNECT_ANDROID: str = ""
CONNECT_IOS: str = ""
CONNECT_WINDOWS: str = ""
CONNECT_MACOS: str = ""
DOWNLOAD_ANDROID: str = ""
DOWNLOAD_IOS: str = ""
DOWNLOAD_PC: str = ""
DOWNLOAD_MACOS: str = ""

apply_public_settings(public_settings(_lenient_settings()))

# --- upstream settings the core honours (plain values; edit here, as upstream operators edit
# config.py). Module processes import this same file, so they read the same values. ----------

#: Donations screen: not part of this core, so always off (modules read it to hide their button).
DONATIONS_ENABLE: bool = False
#: Show the welcome menu on a user's first /start only; later /start opens the profile.
SHOW_START_MENU_ONCE: bool = False
#: Turn the free trial off (as TRIAL_TIME = 0 does); `create_key` then opens the tariff list.
TRIAL_TIME_DISABLE: bool = False
#: Days added to the trial of users whose trial was "extended" (users.trial == -1).
NOTIFY_EXTRA_DAYS: int = 2
#: Payment providers (names from the pay menu, e.g. ["TEST"]) offered straight away when the
#: balance is short for a purchase; empty: the user is sent to the pay menu instead.
USE_NEW_PAYMENT_FLOW: list[str] = []
#: Country selection on purchase is not supported here: keys go to the least loaded cluster.
USE_COUNTRY_SELECTION: bool = False
#: How long a hot-lead discount lasts, in hours (modules compute expiry times from it).
DISCOUNT_ACTIVE_HOURS: int = 24
#: Show prices in the user's preferred currency (users.preferred_currency) when it is USD.
MULTICURRENCY_ENABLE: bool = False
#: Roubles per US dollar for showing prices in USD (None: prices stay in roubles).
RUB_TO_USD: float | None = None
#: Mark-up in percent on prices shown in a foreign currency.
FX_MARKUP: float = 0
