"""What the operator lets each module do: ``modules.toml``.

The file sits in the project root (``MODULES_CONFIG`` names another one); a module without an
entry gets :class:`ModulePermissions` defaults — sandboxed, 256 MB, no network, no core tables
(not even a foreign key to ``users.tg_id``), the default Bot API allowlist::

    [modules.channel_bonus]
    trust = "sandboxed"        # or "trusted": upstream behaviour, owner DB role, no isolation
    memory_mb = 256
    cpu_seconds = 10           # continuous CPU time at ~a full core before kill + restart
    cpu_cores = 1.0            # CPU quota of its cgroup (cpu.max / cfs_quota_us), where there is one
    max_processes = 64         # processes + threads
    max_open_files = 256
    max_file_size_mb = 64
    disk_mb = 512              # all its files in its data and temp folders together
    network = false
    tcp_ports = [443]          # only with network = true: any address on these ports
    destinations = ["api.example.com:443", "10.0.0.0/24:8080", "[2001:db8::1]:443"]  # with network = true
                               # network = true with neither key: any address and port
    db_read = ["users", "keys"]    # core tables it may SELECT
    db_write = ["payments"]        # core tables it may INSERT/UPDATE/DELETE (and SELECT)
    references_users = true    # its tables may declare REFERENCES users(tg_id) (ForeignKey("users.tg_id"))
    bot_api = ["setMyCommands"]    # Bot API methods beyond the default allowlist
    bot_api_rate = 30          # calls/second
    call_hooks = ["payment_success"]  # core events it may fire itself (runtime/calls/module_hook_calls.py)
    override = ["about_vpn"]   # core screens (their callback data) it may answer instead of the core
    webhook_paths = ["/api/payhook"]  # webhook paths outside its own /modules/<name>/
    send_to_chats = [-1001234567890]  # chats beyond this bot's users it may send to
    db_statement_seconds = 30  # longest statement of its database sessions (enforced by the host)
    db_idle_seconds = 60       # longest idle-in-transaction (enforced by the host)
    max_updates_in_flight = 32 # updates it may be handling at once; more are answered "unavailable" at once

Every mistake is reported as ``modules.toml:LINE: module 'x': what is wrong — how to fix``. A
module whose entry is invalid must not start (:meth:`OperatorConfig.error`); a mistake outside
the module tables (bad TOML, unknown top-level key) makes :func:`load_operator_config` raise.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

import annotated_types
from pydantic import AfterValidator, ConfigDict, Field, Strict, ValidationError, model_validator
from pydantic.dataclasses import dataclass as validated_dataclass
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails, PydanticCustomError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONFIG_ENV = "MODULES_CONFIG"
CONFIG_NAME = "modules.toml"

Trust = Literal["sandboxed", "trusted"]


# ---------------------------------------------------------------------------- values
#
# pydantic checks types and ranges (strictly: TOML has real integers, floats and booleans, so
# ``memory_mb = true`` or ``disk_mb = 1.5`` is a mistake, not something to coerce). This file adds
# what pydantic cannot know — which tables and Bot API methods exist — and the operator's wording.


def _invalid(problem: str) -> PydanticCustomError:
    return PydanticCustomError("permissions", "{problem}", {"problem": problem})


@cache
def core_tables() -> frozenset[str]:
    """Names of the core tables (the classes ``database.models`` itself declares, not modules' ones)."""
    from database import models

    return frozenset(
        str(cls.__tablename__)
        for cls in vars(models).values()
        if isinstance(cls, type)
        and issubclass(cls, models.Base)
        and cls.__module__ == models.__name__
        and hasattr(cls, "__tablename__")
    )


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _core_table(name: str) -> str:
    tables = core_tables()
    if name not in tables:
        raise _invalid(f"unknown core table {name!r}{_suggest(name, tables)}; core tables: {', '.join(sorted(tables))}")
    return name


def _api_method(name: str) -> str:
    from .bot_api_policy import API_METHODS

    if name not in API_METHODS:
        raise _invalid(f"unknown Bot API method {name!r}{_suggest(name, API_METHODS)} (names as in the Bot API: sendMessage)")
    return name


def _hook_name(name: str) -> str:
    if not name.isidentifier():
        raise _invalid(f'holds hook names such as "payment_success", got {name!r}')
    return name


def _callback_data(value: str) -> str:
    if not value or len(value.encode()) > 64:  # Telegram's limit for callback data
        raise _invalid(f'holds the callback data of core screens (1-64 bytes), such as "about_vpn", got {value!r}')
    return value


def _webhook_path(path: str) -> str:
    if not path.startswith("/") or "//" in path or any(part in (".", "..") for part in path.split("/")):
        raise _invalid(f'holds paths such as "/api/payhook" (absolute, no . or .. parts), got {path!r}')
    return path


def _destination(text: str) -> str:
    from .network.destinations import DestinationError, parse_destination

    try:
        return str(parse_destination(text))
    except DestinationError as exc:
        raise _invalid(str(exc)) from None


def _sorted_unique(items: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(sorted(set(items)))


@dataclass(frozen=True)
class Items:
    """What a list key holds, for an item pydantic rejects (``tcp_ports holds port numbers 1-65535``)."""

    text: str


# Strict: TOML has real integers and booleans; a strict float still takes a TOML integer.
Whole = Annotated[int, Strict()]
Number = Annotated[float, Strict()]
Sorted = AfterValidator(_sorted_unique)
CoreTable = Annotated[str, Strict(), AfterValidator(_core_table)]
ApiMethod = Annotated[str, Strict(), AfterValidator(_api_method)]
HookName = Annotated[str, Strict(), AfterValidator(_hook_name)]
CallbackData = Annotated[str, Strict(), AfterValidator(_callback_data)]
WebhookPath = Annotated[str, Strict(), AfterValidator(_webhook_path)]
NetworkDestination = Annotated[str, Strict(), AfterValidator(_destination)]
PanelType = Literal["remnawave", "3x-ui"]


@validated_dataclass(frozen=True, config=ConfigDict(extra="forbid"))
class ModulePermissions:
    trust: Trust = "sandboxed"
    memory_mb: Annotated[Whole, Field(ge=32, le=1 << 20)] = 256
    cpu_seconds: Annotated[Number, Field(ge=0.5, le=86400)] = 10
    cpu_cores: Annotated[Number, Field(ge=0.05, le=1024)] = 1.0  # its cgroup's CPU quota (sandbox/containment)
    max_processes: Annotated[Whole, Field(ge=4, le=1 << 16)] = 64
    max_open_files: Annotated[Whole, Field(ge=16, le=1 << 20)] = 256
    max_file_size_mb: Annotated[Whole, Field(ge=1, le=1 << 20)] = 64
    disk_mb: Annotated[Whole, Field(ge=1, le=1_000_000)] = 512  # its data and temp folders in total (the resource watchdog)
    network: Annotated[bool, Strict()] = False
    # any address on these ports; with neither tcp_ports nor destinations, network = true is any address and port
    tcp_ports: Annotated[tuple[Annotated[Whole, Field(ge=1, le=65535)], ...], Sorted, Items("port numbers 1-65535")] = ()
    # host:port, CIDR:port or [IPv6]:port the module may reach (sandbox/network/destinations.py)
    destinations: Annotated[
        tuple[NetworkDestination, ...], Sorted, Items('destinations ("api.example.com:443", "10.0.0.0/24:8080")')
    ] = ()
    db_read: Annotated[tuple[CoreTable, ...], Sorted, Items("core table names")] = ()
    db_write: Annotated[tuple[CoreTable, ...], Sorted, Items("core table names")] = ()
    # REFERENCES (tg_id) on users: a foreign key to the core's users. Not by default: probing a
    # foreign key tells which ids are the bot's users, and its rows can block the core's deletes.
    references_users: Annotated[bool, Strict()] = False
    bot_api: Annotated[tuple[ApiMethod, ...], Sorted, Items("Bot API method names")] = ()
    bot_api_rate: Annotated[Number, Field(ge=0.1, le=1000)] = 30
    # The core's hooks it may fire itself with run_hooks (screens and its own events need no grant).
    call_hooks: Annotated[tuple[HookName, ...], Sorted, Items("hook names")] = ()
    # Core screens (their callback data) it may answer in the core's place.
    override: Annotated[tuple[CallbackData, ...], Sorted, Items("callback data")] = ()
    # Webhook paths beyond its own /modules/<name>/.
    webhook_paths: Annotated[tuple[WebhookPath, ...], Sorted, Items("webhook paths")] = ()
    # Longest statement, and longest idle-in-transaction, of its database sessions (db_limits).
    db_statement_seconds: Annotated[Number, Field(ge=0.5, le=86400)] = 30
    db_idle_seconds: Annotated[Number, Field(ge=0.5, le=86400)] = 60
    # Updates it may be handling at once (a hung module's backlog stays this small; the rest are
    # answered "unavailable" at once: update_forwarding).
    max_updates_in_flight: Annotated[Whole, Field(ge=1, le=100_000)] = 32
    # Chats it may send to beyond this bot's users and the chat of the update it handles.
    send_to_chats: Annotated[tuple[Whole, ...], Sorted, Items("chat ids (numbers, e.g. -1001234567890)")] = ()
    # VPN panels the host calls for the module with the operator's credentials (panels/gateway.py)
    panels: Annotated[tuple[PanelType, ...], Sorted, Items('panel types ("remnawave", "3x-ui")')] = ()

    @model_validator(mode="after")
    def _ports_need_network(self) -> ModulePermissions:
        for key in ("tcp_ports", "destinations"):
            if getattr(self, key) and not self.network:
                raise PydanticCustomError(
                    "ports_need_network", "{key} needs network = true (add network = true, or remove {key})", {"key": key}
                )
        return self

    @property
    def trusted(self) -> bool:
        return self.trust == "trusted"


DEFAULTS = ModulePermissions()
KEYS: tuple[str, ...] = tuple(f.name for f in fields(ModulePermissions))


class PermissionsError(ValueError):
    """A mistake in ``modules.toml`` or a module's ``module.toml``; ``str()`` is the one line to show."""

    def __init__(self, message: str, *, module: str | None = None, file: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.module = module
        self.file = file
        self.line = line


# pydantic sets this on the class when it is created; its mypy plugin does not declare it for dataclasses.
_FIELDS: dict[str, FieldInfo] = ModulePermissions.__pydantic_fields__  # type: ignore[attr-defined]


def _metadata(key: str, kind: type[Any]) -> Any:
    return next((m for m in _FIELDS[key].metadata if isinstance(m, kind)), None)


def _problem(key: str, error: ErrorDetails) -> str:
    """The operator's wording for one pydantic error about ``key``."""
    kind, got = error["type"], error["input"]
    if kind == "permissions":
        return f"{key}: {error['ctx']['problem']}"
    if kind == "ports_need_network":
        return error["msg"]
    if len(error["loc"]) > 1:  # an item of a list
        return f"{key} holds {_metadata(key, Items).text}, got {got!r}"
    if kind == "literal_error":
        return f'{key} must be "sandboxed" or "trusted", got {got!r}'
    if kind in ("bool_type", "bool_parsing"):
        return f"{key} must be true or false, got {got!r}"
    if kind in ("tuple_type", "list_type"):
        return f"{key} must be a list, e.g. {key} = [...], got {got!r}"
    if kind in ("greater_than_equal", "less_than_equal"):
        low, high = _metadata(key, annotated_types.Ge).ge, _metadata(key, annotated_types.Le).le
        return f"{key} must be between {low:g} and {high:g}, got {got!r}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"{key} must be an integer, got {got!r}"
    if kind in ("float_type", "float_parsing"):
        return f"{key} must be a number, got {got!r}"
    return f"{key}: {error['msg']}, got {got!r}"  # pydantic's wording for what this file never expects


def validate_entry(entry: Mapping[str, Any], allowed: Iterable[str] = KEYS) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Normalised values of a table of permission keys, and ``(key, message)`` for each mistake (in file order)."""
    allowed = tuple(allowed)
    problems = [
        (key, f"unknown key {key!r}{_suggest(key, allowed)}; known keys: {', '.join(allowed)}")
        for key in entry
        if key not in allowed
    ]
    given = {key: value for key, value in entry.items() if key in allowed}
    try:
        validated = ModulePermissions(**given)
    except ValidationError as exc:
        for error in exc.errors():
            # a model-level error: ports or destinations without network
            key = str(error["loc"][0]) if error["loc"] else str((error.get("ctx") or {}).get("key", "tcp_ports"))
            problems.append((key, _problem(key, error)))
        order = list(entry)
        problems.sort(key=lambda problem: order.index(problem[0]) if problem[0] in order else len(order))
        return {}, problems
    return {key: getattr(validated, key) for key in given}, problems


# ---------------------------------------------------------------------------- source lines


_HEADER = re.compile(r"^\s*\[\[?\s*(?P<path>[^\[\]#]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"""^\s*(?P<path>(?:"[^"]*"|'[^']*'|[A-Za-z0-9_\-]+)(?:\s*\.\s*(?:"[^"]*"|'[^']*'|[A-Za-z0-9_\-]+))*)\s*=""")
_PART = re.compile(r""""([^"]*)"|'([^']*)'|([A-Za-z0-9_\-]+)""")


def _parts(text: str) -> tuple[str, ...]:
    return tuple(next(g for g in m.groups() if g is not None) for m in _PART.finditer(text))


class SourceLines:
    """Finds the line of a key path (``("modules", "x", "memory_mb")``) in raw TOML text, best effort."""

    def __init__(self, text: str) -> None:
        self.paths: list[tuple[int, tuple[str, ...]]] = []
        table: tuple[str, ...] = ()
        for number, line in enumerate(text.splitlines(), start=1):
            header = _HEADER.match(line)
            if header:
                table = _parts(header["path"])
                self.paths.append((number, table))
                continue
            key = _KEY.match(line)
            if key:
                self.paths.append((number, table + _parts(key["path"])))

    def line_of(self, *path: str) -> int:
        for length in range(len(path), 0, -1):
            prefix = path[:length]
            for number, full in self.paths:
                if full[:length] == prefix:
                    return number
        return 1


def toml_error(file: str, exc: tomllib.TOMLDecodeError, source: str) -> PermissionsError:
    message = str(exc)
    found = re.search(r"\s*\(at line (\d+), column (\d+)\)", message)
    if found:
        line = int(found[1])
        text = f"{message[: found.start()]} (column {found[2]})"
    else:
        line = len(source.rstrip("\n").splitlines()) or 1
        text = re.sub(r"\s*\(at end of document\)", " at the end of the file", message)
    return PermissionsError(f"{file}:{line}: invalid TOML: {text} — fix the syntax", file=file, line=line)


# ---------------------------------------------------------------------------- modules.toml


@dataclass(frozen=True)
class OperatorConfig:
    path: Path | None  # None: no file, every module gets the defaults
    modules: Mapping[str, ModulePermissions] = field(default_factory=dict)  # valid entries
    errors: Mapping[str, PermissionsError] = field(default_factory=dict)  # module → why its entry is invalid
    warnings: tuple[str, ...] = ()  # e.g. an entry naming no module

    def error(self, module: str) -> PermissionsError | None:
        """Why ``module`` must not start, or ``None``."""
        return self.errors.get(module)

    def permissions(self, module: str) -> ModulePermissions:
        """``module``'s permissions (defaults without an entry); raises its :class:`PermissionsError` if invalid."""
        if module in self.errors:
            raise self.errors[module]
        return self.modules.get(module, DEFAULTS)


def default_config_path() -> Path:
    return Path(os.environ[CONFIG_ENV]) if os.environ.get(CONFIG_ENV) else PROJECT_ROOT / CONFIG_NAME


def load_operator_config(path: str | Path | None = None, known_modules: Iterable[str] | None = None) -> OperatorConfig:
    """Read and check ``modules.toml`` (``path``, else ``MODULES_CONFIG``, else the project root's).

    A missing default file means defaults for all; a missing file named explicitly is an error.
    """
    explicit = path is not None or bool(os.environ.get(CONFIG_ENV))
    config_path = Path(path) if path is not None else default_config_path()
    name = config_path.name
    try:
        text = config_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if explicit:
            raise PermissionsError(f"{config_path}: no such file — create it or unset {CONFIG_ENV}", file=name) from None
        return OperatorConfig(None)
    except (OSError, UnicodeDecodeError) as exc:
        raise PermissionsError(f"{config_path}: cannot read it ({exc})", file=name) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise toml_error(name, exc, text) from None
    lines = SourceLines(text)

    for key in data:
        if key != "modules":
            line = lines.line_of(key)
            raise PermissionsError(
                f"{name}:{line}: unknown top-level key {key!r} — module settings go in [modules.<name>] tables",
                file=name,
                line=line,
            )
    entries = data.get("modules", {})
    if not isinstance(entries, dict):
        line = lines.line_of("modules")
        raise PermissionsError(f"{name}:{line}: 'modules' must be a table of [modules.<name>] tables", file=name, line=line)

    known = set(known_modules) if known_modules is not None else None
    modules: dict[str, ModulePermissions] = {}
    errors: dict[str, PermissionsError] = {}
    warnings: list[str] = []
    for module, entry in entries.items():
        if known is not None and module not in known:
            line = lines.line_of("modules", module)
            warnings.append(f"{name}:{line}: [modules.{module}] names no module in the modules folder{_suggest(module, known)}")
        if not isinstance(entry, dict):
            line = lines.line_of("modules", module)
            errors[module] = PermissionsError(
                f"{name}:{line}: module {module!r}: must be a table ([modules.{module}] followed by key = value lines)",
                module=module,
                file=name,
                line=line,
            )
            continue
        values, problems = validate_entry(entry)
        if problems:
            key, message = problems[0]
            line = lines.line_of("modules", module, key)
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            errors[module] = PermissionsError(
                f"{name}:{line}: module {module!r}: {message}{more}", module=module, file=name, line=line
            )
            continue
        modules[module] = ModulePermissions(**values)
    return OperatorConfig(config_path, modules, errors, tuple(warnings))
