"""What a module asks the operator for, in its own ``module.toml`` — never granted by asking.

A module's folder may hold::

    [request]
    network = true
    tcp_ports = [443]
    reason.network = "calls the payment provider's API"
    db_read = ["payments"]
    reason.db_read = "top referrers counts payments"

The keys are those of ``modules.toml`` (except ``trust``). :func:`describe_pending` turns what
is requested but not granted into lines for the operator, each saying what to put in
``modules.toml`` to grant it.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .bot_api_policy import DEFAULT_ALLOWED
from .permissions import KEYS, ModulePermissions, PermissionsError, SourceLines, toml_error, validate_entry
from .toml_value import toml_value

MODULE_FILE = "module.toml"
REQUESTABLE: tuple[str, ...] = tuple(k for k in KEYS if k != "trust")


@dataclass(frozen=True)
class ModuleRequests:
    module: str
    path: Path | None = None  # None: the module has no module.toml
    requested: Mapping[str, Any] = field(default_factory=dict)  # key → normalised value, as in ModulePermissions
    reasons: Mapping[str, str] = field(default_factory=dict)  # key → why

    def reason(self, key: str) -> str:
        return self.reasons.get(key) or "(no reason given)"


@dataclass(frozen=True)
class ModuleToml:
    """A module's parsed ``module.toml``: its data, where each key is, and how to name a mistake."""

    module: str
    where: str  # "<name>/module.toml", for messages
    data: Mapping[str, Any]
    lines: SourceLines

    def error(self, message: str, *path: str) -> PermissionsError:
        line = self.lines.line_of(*path)
        return PermissionsError(
            f"{self.where}:{line}: module {self.module!r}: {message}", module=self.module, file=self.where, line=line
        )


def read_module_toml(module_dir: str | Path) -> ModuleToml | None:
    """``module_dir/module.toml`` parsed (``None`` without the file); a mistake is a :class:`PermissionsError`."""
    folder = Path(module_dir)
    module = folder.name
    path = folder / MODULE_FILE
    where = f"{module}/{MODULE_FILE}"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise PermissionsError(f"{where}: cannot read it ({exc})", module=module, file=where) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        error = toml_error(where, exc, text)
        raise PermissionsError(str(error), module=module, file=where, line=error.line) from None
    return ModuleToml(module, where, data, SourceLines(text))


def load_module_requests(module_dir: str | Path) -> ModuleRequests:
    """The ``[request]`` table of ``module_dir/module.toml`` (empty without the file or the table)."""
    parsed = read_module_toml(module_dir)
    if parsed is None:
        return ModuleRequests(Path(module_dir).name)
    module, data, fail = parsed.module, parsed.data, parsed.error
    path = Path(module_dir) / MODULE_FILE
    table = data.get("request", {})
    if not isinstance(table, dict):
        raise fail("request must be a table: [request] followed by key = value lines", "request")
    entry = dict(table)
    raw_reasons = entry.pop("reason", {})
    if not isinstance(raw_reasons, dict):
        raise fail('reason must be given per key: reason.network = "why"', "request", "reason")
    values, problems = validate_entry(entry, REQUESTABLE)
    if problems:
        key, message = problems[0]
        raise fail(message, "request", key)
    reasons: dict[str, str] = {}
    for key, why in raw_reasons.items():
        if key not in values:
            raise fail(
                f"reason.{key} explains nothing requested — request {key} too, or remove the reason", "request", "reason", key
            )
        if not isinstance(why, str) or not why.strip():
            raise fail(f"reason.{key} must be a non-empty text", "request", "reason", key)
        reasons[key] = " ".join(why.split())
    return ModuleRequests(module, path, values, reasons)


def describe_pending(requests: ModuleRequests, granted: ModulePermissions) -> list[str]:
    """One line per request that ``granted`` does not cover, saying what to write to grant it."""
    if granted.trusted:
        return []
    name = requests.module
    asked = requests.requested
    lines: list[str] = []

    def add(what: str, key: str, **settings: Any) -> None:
        grant = ", ".join(f"{k} = {toml_value(v)}" for k, v in settings.items())
        lines.append(f"module {name} requests {what}: {requests.reason(key)} — grant in modules.toml [modules.{name}] {grant}")

    wants_network = (asked.get("network", False) and not asked.get("destinations")) or bool(asked.get("tcp_ports"))
    ports = tuple(asked.get("tcp_ports", ()))
    if wants_network:
        ports_text = "tcp " + ", ".join(map(str, ports)) if ports else "any TCP port"
        reason_key = "network" if "network" in asked else "tcp_ports"
        if not granted.network:
            add(f"network ({ports_text})", reason_key, **({"network": True, "tcp_ports": ports} if ports else {"network": True}))
        elif granted.tcp_ports and (not ports or not set(ports) <= set(granted.tcp_ports)):
            if ports:
                missing = sorted(set(ports) - set(granted.tcp_ports))
                add(
                    f"tcp port(s) {', '.join(map(str, missing))}",
                    "tcp_ports",
                    tcp_ports=tuple(sorted({*granted.tcp_ports, *ports})),
                )
            else:
                add("network on any TCP port", reason_key, tcp_ports=())

    missing_destinations = [d for d in asked.get("destinations", ()) if d not in granted.destinations]
    if missing_destinations and not (granted.network and not granted.tcp_ports and not granted.destinations):
        add(
            f"network destinations {', '.join(missing_destinations)}",
            "destinations",
            network=True,
            destinations=tuple(sorted({*granted.destinations, *missing_destinations})),
        )

    readable = set(granted.db_read) | set(granted.db_write)
    missing_read = [t for t in asked.get("db_read", ()) if t not in readable]
    if missing_read:
        add(f"SELECT on {', '.join(missing_read)}", "db_read", db_read=tuple(sorted({*granted.db_read, *missing_read})))
    missing_write = [t for t in asked.get("db_write", ()) if t not in granted.db_write]
    if missing_write:
        add(
            f"INSERT/UPDATE/DELETE on {', '.join(missing_write)}",
            "db_write",
            db_write=tuple(sorted({*granted.db_write, *missing_write})),
        )
    if asked.get("references_users") and not granted.references_users:
        add("a foreign key to users(tg_id)", "references_users", references_users=True)
    missing_methods = [m for m in asked.get("bot_api", ()) if m not in DEFAULT_ALLOWED and m not in granted.bot_api]
    if missing_methods:
        add(f"Bot API {', '.join(missing_methods)}", "bot_api", bot_api=tuple(sorted({*granted.bot_api, *missing_methods})))

    listed = (
        ("call_hooks", "to fire the core's hooks"),
        ("override", "to answer core screens"),
        ("webhook_paths", "webhook paths"),
        ("panels", "VPN panels through the host:"),
    )
    for key, what in listed:
        missing = [v for v in asked.get(key, ()) if v not in getattr(granted, key)]
        if missing:
            add(f"{what} {', '.join(missing)}", key, **{key: tuple(sorted({*getattr(granted, key), *missing}))})

    for key in ("memory_mb", "cpu_seconds", "max_processes", "max_open_files", "max_file_size_mb", "disk_mb", "bot_api_rate"):
        if key in asked and asked[key] > getattr(granted, key):
            add(f"{key} = {toml_value(asked[key])} (granted {toml_value(getattr(granted, key))})", key, **{key: asked[key]})
    return lines
