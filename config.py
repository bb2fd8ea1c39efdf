"""Bot configuration: ``load_settings()`` for the host, upstream's module-level names for modules.

Two audiences with different needs:

* the host calls :func:`load_settings`, which validates everything (the bot token, the
  database URL ...) and raises :class:`ConfigError` with a one-line message naming the variable
  (and the ``.env`` line it came from);
* module code does ``from config import ADMIN_ID, SUPPORT_CHAT_URL`` as with upstream. Those
  names are computed at import from the environment and never fail (bad values fall back to
  defaults). In a module process, whose environment is scrubbed, the host's values are installed
  with :func:`apply_public_settings` before the module is imported.

:class:`Settings` is a pydantic model: pydantic converts and range-checks the values; this file
adds only what pydantic does not know (the formats of a token, a DSN, an id list) and turns
pydantic's errors into messages that say which variable to fix and how.

The bot token and the database URL are deliberately never module-level attributes here: module
processes import this file and must not find secrets in it.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import ErrorDetails, PydanticCustomError


class ConfigError(ValueError):
    """A configuration value is missing or invalid; ``str()`` is one line naming the variable."""


MISSING_BOT_TOKEN = "BOT_TOKEN is missing: set it in the environment or in .env (format 123456:ABC...)"
MODULES_STATE_FILE_NAME = "modules_state.json"


# --- field markers ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Upstream:
    """The module-level name upstream modules import this setting as (``from config import ADMIN_ID``)."""

    name: str


@dataclass(frozen=True)
class Expected:
    """What a valid value looks like, for errors pydantic reports inside a list or a table."""

    text: str


# --- formats pydantic does not know: an error here is the whole message after the variable ------


def _invalid(problem: str) -> PydanticCustomError:
    # The problem goes through the context: message templates treat "{...}" as placeholders.
    return PydanticCustomError("config", "{problem}", {"problem": problem})


def _variable_problem(variable: str, problem: str) -> PydanticCustomError:
    """A problem found across fields (pydantic gives it no location): the variable to fix travels along."""
    return PydanticCustomError("config", "{variable} {problem}", {"problem": problem, "variable": variable})


_TOKEN = re.compile(r"\d+:\S+")


def _bot_token(token: str) -> str:
    if not _TOKEN.fullmatch(token):
        # Never echo the value: it may be a real (if mangled) secret.
        raise _invalid("is malformed: expected <bot id>:<secret> as given by @BotFather (format 123456:ABC...)")
    return token


def _http_url(url: str) -> str:
    if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", url):
        raise _invalid(f"must be an http(s):// URL, got {url!r}")
    return url.rstrip("/")


def _database_url(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep or not rest:
        raise _invalid(
            "must look like postgresql+asyncpg://user:password@host:5432/dbname (unset it for the embedded PostgreSQL)"
        )
    if scheme in ("postgresql", "postgres"):
        # Plain libpq-style URLs are what hosting panels hand out; SQLAlchemy needs the driver named.
        scheme = "postgresql+asyncpg"
    if scheme != "postgresql+asyncpg":
        raise _invalid(f"must use PostgreSQL through asyncpg (postgresql+asyncpg://...), got scheme {scheme!r}")
    return f"{scheme}://{rest}"


def _redis_url(url: str) -> str:
    if not re.fullmatch(r"rediss?://\S+|unix://\S+", url):
        raise _invalid(f"must be a redis://host:6379/0 URL, got {url!r}")
    return url


_WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
TELEGRAM_WEBHOOK_PORTS = (443, 80, 88, 8443)  # the only ports Telegram posts webhooks to


def _webhook_secret(secret: str) -> str:
    if not _WEBHOOK_SECRET.fullmatch(secret):
        # Never echo the value: it is a secret.
        raise _invalid(
            "must be 1-256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule); e.g. generate one with `openssl rand -hex 32`"
        )
    return secret


def _catalog_public_key(text: str) -> str:
    import base64

    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise _invalid(
            "must be the catalog's Ed25519 public key: 43 base64url characters, as printed by "
            "`solobot catalog serve` and shown at <catalog>/api/v1/public-key"
        )
    return text


def _split_list(raw: Any) -> Any:
    """``1, 2;3`` → ``["1", "2", "3"]``; pydantic then checks each item."""
    return [part for part in re.split(r"[,\s;]+", raw.strip()) if part] if isinstance(raw, str) else raw


def _referral_levels(raw: Any) -> Any:
    """``0.25,0.1,0.05`` (level 1, 2, 3 ...) or JSON ``{"1": 0.25}`` → ``{level: share}``; pydantic checks both."""
    if not isinstance(raw, str):
        return raw
    raw = raw.strip()
    if raw.startswith("{"):
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            raise _invalid(f'is not valid JSON ({exc.msg}): write it like {{"1": 0.25, "2": 0.1}} or 0.25,0.1') from None
    return dict(enumerate(_split_list(raw), start=1))


HttpUrl = Annotated[str, AfterValidator(_http_url)]
Port = Annotated[int, Field(ge=0, le=65535)]  # 0: any free port (tests, side-by-side demos)
TelegramId = Annotated[int, Field(ge=1)]
Share = Annotated[float, Field(ge=0, le=1)]
Level = Annotated[int, Field(ge=1)]

ADMIN_IDS_FORMAT = Expected("comma-separated Telegram user ids (e.g. 123456789,987654321)")
REFERRAL_FORMAT = Expected('shares per referral level, each between 0 and 1 (0.25 = 25%), like 0.25,0.1,0.05 or JSON {"1": 0.25}')


# --- the settings ----------------------------------------------------------------------------


class Settings(BaseModel):
    """Validated bot settings. Field ``x_y`` is read from environment variable ``X_Y``."""

    model_config = ConfigDict(
        frozen=True,
        alias_generator=str.upper,  # the field's environment variable
        validate_by_name=True,  # Settings(bot_token=...) in code, Settings.model_validate({"BOT_TOKEN": ...}) from env
        str_strip_whitespace=True,
        extra="ignore",  # the environment holds much more than our variables
    )

    # Secrets: the host only. Never copied to module processes or to module-level names.
    bot_token: Annotated[str, AfterValidator(_bot_token)] | None = None
    database_url: Annotated[str, AfterValidator(_database_url)] | None = None
    redis_url: Annotated[str, AfterValidator(_redis_url)] | None = None

    # Host wiring
    telegram_api_url: HttpUrl | None = None  # a local Bot API server
    # Webhook mode (unset: long polling). The public URL Telegram posts updates to; its path is
    # what the host's web server answers on. WEBHOOK_SECRET is required with it (Telegram sends it
    # back in X-Telegram-Bot-Api-Secret-Token; requests without it are refused).
    webhook_url: HttpUrl | None = None
    webhook_secret: Annotated[str, AfterValidator(_webhook_secret)] | None = None
    modules_dir: str = "modules"
    web_host: str = "127.0.0.1"
    web_port: Port = 8080
    data_dir: str = "storage"  # embedded PostgreSQL in <data_dir>/postgres
    modules_state_file: str | None = None  # unset: <data_dir>/modules_state.json
    # Identical worker processes behind WEB_PORT (``workers``): >1 needs webhook mode and REDIS_URL.
    workers: Annotated[int, Field(ge=1, le=64)] = 1

    # The module catalog (installer/): without both, the catalog features are hidden.
    catalog_url: HttpUrl | None = None
    catalog_public_key: Annotated[str, AfterValidator(_catalog_public_key)] | None = None
    catalog_check_interval: Annotated[int, Field(ge=60)] = 6 * 3600  # s between licence / update checks
    catalog_offline_grace: Annotated[int, Field(ge=0)] = 72 * 3600  # s a licence is trusted with the catalog unreachable

    # Non-secret values upstream modules import from ``config``
    admin_ids: Annotated[tuple[TelegramId, ...], BeforeValidator(_split_list), ADMIN_IDS_FORMAT, Upstream("ADMIN_ID")] = ()
    username_bot: Annotated[str, Upstream("USERNAME_BOT")] = ""
    project_name: Annotated[str, Upstream("PROJECT_NAME")] = "Solobot"
    support_chat_url: Annotated[HttpUrl, Upstream("SUPPORT_CHAT_URL")] = "https://t.me/"
    channel_url: Annotated[HttpUrl, Upstream("CHANNEL_URL")] = "https://t.me/"
    channel_exists: Annotated[bool, Upstream("CHANNEL_EXISTS")] = False
    channel_required: Annotated[bool, Upstream("CHANNEL_REQUIRED")] = False
    channel_id: Annotated[str, Upstream("CHANNEL_ID")] = ""
    trial_time: Annotated[int, Field(ge=0), Upstream("TRIAL_TIME")] = 3  # days; 0 disables the trial
    notification_time: Annotated[int, Field(ge=1), Upstream("NOTIFICATION_TIME")] = 3600  # loop period, s
    referral_bonus_percentages: Annotated[
        dict[Level, Share], BeforeValidator(_referral_levels), REFERRAL_FORMAT, Upstream("REFERRAL_BONUS_PERCENTAGES")
    ] = Field(default_factory=lambda: {1: 0.25, 2: 0.1, 3: 0.05})
    instructions_url: Annotated[HttpUrl, Upstream("INSTRUCTIONS_URL")] = "https://telegra.ph/"
    connect_android: Annotated[str, Upstream("CONNECT_ANDROID")] = "v2raytun://import/"
    connect_ios: Annotated[str, Upstream("CONNECT_IOS")] = "v2raytun://import/"
    connect_windows: Annotated[str, Upstream("CONNECT_WINDOWS")] = "hiddify://import/"
    connect_macos: Annotated[str, Upstream("CONNECT_MACOS")] = "v2raytun://import/"
    download_android: Annotated[HttpUrl, Upstream("DOWNLOAD_ANDROID")] = (
        "https://play.google.com/store/apps/details?id=com.v2raytun.android"
    )
    download_ios: Annotated[HttpUrl, Upstream("DOWNLOAD_IOS")] = "https://apps.apple.com/app/v2raytun/id6476628951"
    download_pc: Annotated[HttpUrl, Upstream("DOWNLOAD_PC")] = "https://github.com/hiddify/hiddify-app/releases"
    download_macos: Annotated[HttpUrl, Upstream("DOWNLOAD_MACOS")] = "https://apps.apple.com/app/v2raytun/id6476628951"
    # The bot's public https base URL (upstream's WEBHOOK_HOST): modules build the links of their
    # get_webhook_data() routes and web pages from it. Not a secret. (compat-core)
    webhook_host: Annotated[str, Upstream("WEBHOOK_HOST")] = ""

    # --- VPN panels (panels/; compat-panels) -------------------------------------------------
    # Credentials are secrets: the host only (``panels.configure``), never module processes.
    remnawave_login: str | None = None
    remnawave_password: str | None = None
    remnawave_access_token: str | None = None  # instead of login/password
    xui_username: str | None = None  # upstream: ADMIN_USERNAME
    xui_password: str | None = None  # upstream: ADMIN_PASSWORD
    xui_token: str | None = None
    supernode: bool = False  # delete 3x-ui clients by id without a lookup
    public_link: HttpUrl | None = None  # 3x-ui keys: <PUBLIC_LINK>/<email>/<tg_id>
    # --- end of VPN panels --------------------------------------------------------------------

    @model_validator(mode="after")
    def _webhook_mode_is_complete(self) -> Settings:
        if self.webhook_url is None:
            return self
        if not self.webhook_secret:
            raise _variable_problem(
                "WEBHOOK_SECRET",
                "is missing: webhook mode (WEBHOOK_URL is set) needs a secret Telegram sends back with every update; "
                "set 1-256 characters of A-Z, a-z, 0-9, _ and - (e.g. `openssl rand -hex 32`)",
            )
        url = urlsplit(self.webhook_url)
        if self.telegram_api_url is None:  # the real Telegram; a local Bot API server (--local) posts to any http(s) URL
            if url.scheme != "https":
                raise _variable_problem(
                    "WEBHOOK_URL", f"must be an https:// URL (Telegram posts only over HTTPS), got {self.webhook_url!r}"
                )
            if (url.port or 443) not in TELEGRAM_WEBHOOK_PORTS:
                raise _variable_problem(
                    "WEBHOOK_URL",
                    f"uses port {url.port}: Telegram posts only to ports 443, 80, 88 and 8443 (put a proxy in front)",
                )
        return self

    @property
    def webhook_path(self) -> str | None:
        """The path the host serves Telegram's webhook on (from WEBHOOK_URL), or None in polling mode."""
        return (urlsplit(self.webhook_url).path or "/") if self.webhook_url else None

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # Settings end up in logs and tracebacks: show that secrets are set, never their values.
        for name, value in super().__repr_args__():
            yield name, ("***" if name in SECRET_FIELDS and value else value)

    @property
    def bot_id(self) -> int | None:
        """The numeric part of the token (public: it is the bot's user id)."""
        return int(self.bot_token.split(":", 1)[0]) if self.bot_token else None

    @property
    def catalog_enabled(self) -> bool:
        """Both CATALOG_URL and CATALOG_PUBLIC_KEY are set: the catalog screens and commands exist."""
        return bool(self.catalog_url and self.catalog_public_key)

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


SECRET_FIELDS = frozenset(
    {
        "bot_token",
        "database_url",
        "redis_url",
        "webhook_secret",
        "remnawave_password",
        "remnawave_access_token",
        "xui_password",
        "xui_token",
    }
)
ENV_VARS: Mapping[str, str] = {name: name.upper() for name in Settings.model_fields}  # field → variable


def _marker(field_name: str, kind: type[Any]) -> Any:
    return next((m for m in Settings.model_fields[field_name].metadata if isinstance(m, kind)), None)


PUBLIC_NAMES: Mapping[str, str] = {
    marker.name: name for name in Settings.model_fields if (marker := _marker(name, Upstream)) is not None
}  # upstream module-level name → Settings field


# --- reading the environment -----------------------------------------------------------------

_ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=")


@dataclass(frozen=True)
class _Source:
    values: dict[str, str]  # variable → raw text (the real environment over .env)
    origins: dict[str, str]  # variable → ".env:LINE" for values that came from the file


def _read_environment(environ: Mapping[str, str] | None, env_file: str | Path | None) -> _Source:
    values: dict[str, str] = {}
    origins: dict[str, str] = {}
    if env_file is not None and Path(env_file).is_file():
        from dotenv import dotenv_values

        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
        for number, line in enumerate(Path(env_file).read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
            if found := _ASSIGNMENT.match(line):
                origins[found[1]] = f"{Path(env_file).name}:{number}"  # the last assignment wins, as in dotenv
    real = os.environ if environ is None else environ
    values.update(real)  # the real environment wins over .env
    for name in real:
        origins.pop(name, None)
    return _Source(values, origins)


# Spellings upstream installs use for the same variable.
_ALIASES = {
    "ADMIN_IDS": "ADMIN_ID",
    "BOT_TOKEN": "API_TOKEN",
    "XUI_USERNAME": "ADMIN_USERNAME",  # upstream's 3x-ui login names
    "XUI_PASSWORD": "ADMIN_PASSWORD",
}


def _lookup(source: _Source, var: str) -> tuple[str, str] | None:
    """``(the variable actually set, its value)`` for ``var`` or its upstream alias; empty counts as unset."""
    for name in (var, _ALIASES.get(var)):
        raw = source.values.get(name) if name is not None else None
        if name is not None and raw is not None and raw.strip():
            return name, raw
    return None


@dataclass(frozen=True)
class _SetAs:
    """Where the operator wrote a value: the variable's spelling (maybe upstream's alias) and the .env line."""

    name: str
    origin: str | None


def _raw_values(source: _Source, field_names: list[str]) -> tuple[dict[str, str], dict[str, _SetAs]]:
    """``{VARIABLE: raw}`` to validate, and where each was set (for error messages)."""
    values: dict[str, str] = {}
    where: dict[str, _SetAs] = {}
    for name in field_names:
        var = ENV_VARS[name]
        if (found := _lookup(source, var)) is None:
            continue
        set_as, values[var] = found
        where[var] = _SetAs(set_as, source.origins.get(set_as))
    return values, where


# --- pydantic's errors → one line for the operator -------------------------------------------


def _problem(error: ErrorDetails, field_name: str, raw: str | None) -> str:
    """What is wrong with the value, phrased after the variable's name."""
    kind, ctx = error["type"], error.get("ctx") or {}
    got = f", got {error['input']!r}"
    if len(error["loc"]) > 1 and raw is not None and raw.strip() != str(error["input"]):  # an item: show where it is
        got += f" in {raw.strip()!r}"
    if field_name in SECRET_FIELDS:
        got = ""
    if kind == "config":
        return str(ctx["problem"])
    if (expected := _marker(field_name, Expected)) is not None:
        return f"must be {expected.text}{got}"
    if kind in ("int_parsing", "int_from_float", "int_type"):
        return f"must be a whole number{got}"
    if kind in ("float_parsing", "float_type"):
        return f"must be a number{got}"
    if kind in ("bool_parsing", "bool_type"):
        return f"must be true or false{got}"
    if kind == "greater_than_equal":
        return f"must be at least {ctx['ge']}{got}"
    if kind == "less_than_equal":
        return f"must be at most {ctx['le']}{got}"
    return f"is invalid: {error['msg']}"  # pydantic's wording for what this file never expects


def _variable(error: ErrorDetails) -> str:
    """The variable an error is about: its location, or the one a cross-field check named."""
    return str(error["loc"][0]) if error["loc"] else str((error.get("ctx") or {})["variable"])


def _config_error(exc: ValidationError, values: Mapping[str, str], where: Mapping[str, _SetAs]) -> ConfigError:
    """``VARIABLE what is wrong (set in .env:LINE)`` for the first mistake, naming the other bad variables."""
    errors = exc.errors()
    var = _variable(errors[0])
    set_as = where.get(var, _SetAs(var, None))
    problem = _problem(errors[0], var.lower(), values.get(var))
    origin = f" (set in {set_as.origin})" if set_as.origin else ""
    others = dict.fromkeys(where.get(v, _SetAs(v, None)).name for e in errors if (v := _variable(e)) != var)
    more = f"; also invalid: {', '.join(others)}" if others else ""
    return ConfigError(f"{set_as.name} {problem}{origin}{more}")


def load_settings(
    environ: Mapping[str, str] | None = None,
    env_file: str | Path | None = ".env",
    *,
    require_token: bool = True,
) -> Settings:
    """Validated settings from ``environ`` (default ``os.environ``) over ``env_file`` if it exists.

    ``require_token=False`` is for tools that never talk to Telegram (migrations, the runtime
    demo). Empty values count as unset. Raises :class:`ConfigError` (one line) on a bad value.
    """
    values, where = _raw_values(_read_environment(environ, env_file), list(Settings.model_fields))
    try:
        settings = Settings.model_validate(values)
    except ValidationError as exc:
        raise _config_error(exc, values, where) from None  # no chained error: its inputs may hold the token
    if require_token:
        settings.required_bot_token()
    return settings


def _lenient_settings() -> Settings:
    """Settings for the module-level names: never fails; a bad variable keeps its default."""
    try:
        source = _read_environment(None, ".env")
    except Exception:  # an unreadable .env must not break ``import config``
        source = _read_environment(None, None)
    values, _ = _raw_values(source, list(PUBLIC_NAMES.values()))
    while True:
        try:
            return Settings.model_validate(values)
        except ValidationError as exc:
            for error in exc.errors():
                values.pop(_variable(error), None)


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
WEBHOOK_HOST: str = ""

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
