"""What the operator lets each module do: ``modules.toml``.

The file sits in the project root (``MODULES_CONFIG`` names another one); a module without an
entry gets :class:`ModulePermissions` defaults — sandboxed, 256 MB, no network, no core tables
beyond a foreign key to ``users.tg_id``, the default Bot API allowlist::

    [modules.channel_bonus]
    trust = "sandboxed"        # or "trusted": upstream behaviour, owner DB role, no isolation
    memory_mb = 256
    cpu_seconds = 10           # continuous CPU time at ~a full core before kill + restart
    max_processes = 64         # processes + threads
    max_open_files = 256
    max_file_size_mb = 64
    disk_mb = 512              # all its files in its data and temp folders together
    network = false
    tcp_ports = [443]          # only with network = true; network = true without it: any port
    db_read = ["users", "keys"]    # core tables it may SELECT
    db_write = ["payments"]        # core tables it may INSERT/UPDATE/DELETE (and SELECT)
    bot_api = ["setMyCommands"]    # Bot API methods beyond the default allowlist
    bot_api_rate = 30          # calls/second
    call_hooks = ["payment_success"]  # core events it may fire itself (runtime/calls/module_hook_calls.py)

Every mistake is reported as ``modules.toml:LINE: module 'x': what is wrong — how to fix``. A
module whose entry is invalid must not start (:meth:`OperatorConfig.error`); a mistake outside
the module tables (bad TOML, unknown top-level key) makes :func:`load_operator_config` raise.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from functools import cache
from pathlib import Path
from typing import Any, Literal

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONFIG_ENV = "MODULES_CONFIG"
CONFIG_NAME = "modules.toml"

Trust = Literal["sandboxed", "trusted"]


@dataclass(frozen=True)
class ModulePermissions:
    trust: Trust = "sandboxed"
    memory_mb: int = 256
    cpu_seconds: float = 10
    max_processes: int = 64
    max_open_files: int = 256
    max_file_size_mb: int = 64
    disk_mb: int = 512  # its data and temp folders in total (the resource watchdog)
    network: bool = False
    tcp_ports: tuple[int, ...] = ()  # empty with network = true: any port
    db_read: tuple[str, ...] = ()
    db_write: tuple[str, ...] = ()
    bot_api: tuple[str, ...] = ()
    bot_api_rate: float = 30
    call_hooks: tuple[str, ...] = ()  # the core's hooks it may fire with run_hooks (screens need no grant)

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


class Invalid(ValueError):
    """A value that fails validation; the caller adds file, line and module."""


# ---------------------------------------------------------------------------- values


@cache
def core_tables() -> frozenset[str]:
    """Names of the core tables (the classes ``database.models`` itself declares, not modules' ones)."""
    from database import models

    return frozenset(
        cls.__table__.name
        for cls in vars(models).values()
        if isinstance(cls, type)
        and issubclass(cls, models.Base)
        and cls.__module__ == models.__name__
        and hasattr(cls, "__table__")
    )


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _number(key: str, low: float, high: float, *, integer: bool) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        kinds = (int,) if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds):
            raise Invalid(f"{key} must be {'an integer' if integer else 'a number'}, got {value!r}")
        if not low <= value <= high:
            raise Invalid(f"{key} must be between {low:g} and {high:g}, got {value!r}")
        return value

    return check


def _trust(value: Any) -> str:
    if value not in ("sandboxed", "trusted"):
        raise Invalid(f'trust must be "sandboxed" or "trusted", got {value!r}')
    return value


def _bool(key: str) -> Callable[[Any], bool]:
    def check(value: Any) -> bool:
        if not isinstance(value, bool):
            raise Invalid(f"{key} must be true or false, got {value!r}")
        return value

    return check


def _list(key: str, item: Callable[[Any], Any]) -> Callable[[Any], tuple[Any, ...]]:
    def check(value: Any) -> tuple[Any, ...]:
        if not isinstance(value, list):
            raise Invalid(f"{key} must be a list, e.g. {key} = [...], got {value!r}")
        return tuple(sorted({item(v) for v in value}))

    return check


def _port(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise Invalid(f"tcp_ports holds port numbers 1-65535, got {value!r}")
    return value


def _table(key: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        tables = core_tables()
        if not isinstance(value, str) or value not in tables:
            raise Invalid(
                f"{key}: unknown core table {value!r}{_suggest(str(value), tables)}; core tables: {', '.join(sorted(tables))}"
            )
        return value

    return check


def _method(value: Any) -> str:
    from .bot_api_policy import API_METHODS

    if not isinstance(value, str) or value not in API_METHODS:
        raise Invalid(
            f"bot_api: unknown Bot API method {value!r}{_suggest(str(value), API_METHODS)} (names as in the Bot API: sendMessage)"
        )
    return value


def _hook_name(value: Any) -> str:
    if not isinstance(value, str) or not value.isidentifier():
        raise Invalid(f'call_hooks holds hook names such as "payment_success", got {value!r}')
    return value


VALIDATORS: dict[str, Callable[[Any], Any]] = {
    "trust": _trust,
    "memory_mb": _number("memory_mb", 32, 1 << 20, integer=True),
    "cpu_seconds": _number("cpu_seconds", 0.5, 86400, integer=False),
    "max_processes": _number("max_processes", 4, 1 << 16, integer=True),
    "max_open_files": _number("max_open_files", 16, 1 << 20, integer=True),
    "max_file_size_mb": _number("max_file_size_mb", 1, 1 << 20, integer=True),
    "disk_mb": _number("disk_mb", 1, 1_000_000, integer=True),
    "network": _bool("network"),
    "tcp_ports": _list("tcp_ports", _port),
    "db_read": _list("db_read", _table("db_read")),
    "db_write": _list("db_write", _table("db_write")),
    "bot_api": _list("bot_api", _method),
    "bot_api_rate": _number("bot_api_rate", 0.1, 1000, integer=False),
    "call_hooks": _list("call_hooks", _hook_name),
}


def validate_entry(entry: Mapping[str, Any], allowed: Iterable[str] = KEYS) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Normalised values of a table of permission keys, and ``(key, message)`` for each mistake."""
    allowed = tuple(allowed)
    values: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    for key, raw in entry.items():
        if key not in allowed:
            problems.append((key, f"unknown key {key!r}{_suggest(key, allowed)}; known keys: {', '.join(allowed)}"))
            continue
        try:
            values[key] = VALIDATORS[key](raw)
        except Invalid as exc:
            problems.append((key, str(exc)))
    if values.get("tcp_ports") and not values.get("network", False):
        problems.append(("tcp_ports", "tcp_ports needs network = true (add network = true, or remove tcp_ports)"))
    return values, problems


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
