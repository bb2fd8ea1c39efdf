"""``solobot modules permissions [NAME]``: what each module is granted (``modules.toml``) and what it asks for.

Reads files only (no running bot needed). The sandbox package is imported lazily: an
installation without it says so instead of failing with a traceback.
"""

from __future__ import annotations

import sys
from dataclasses import fields
from pathlib import Path
from typing import Any, TextIO


def module_names(modules_dir: Path) -> list[str]:
    """The module names the runtime would load from ``modules_dir`` (its own discovery, in load order)."""
    from runtime.discovery import discover

    return [spec.name for spec in discover(modules_dir)]


def granted_summary(granted: Any, defaults: Any) -> str:
    """``sandboxed, defaults`` or ``sandboxed: network = true, tcp_ports = [443]`` (modules.toml spelling)."""
    from sandbox.toml_value import toml_value

    if granted.trusted:
        return "TRUSTED: no isolation (upstream behaviour, the database owner's role)"
    changed = [
        f"{f.name} = {toml_value(getattr(granted, f.name))}"
        for f in fields(granted)
        if f.name != "trust" and getattr(granted, f.name) != getattr(defaults, f.name)
    ]
    return "sandboxed: " + ", ".join(changed) if changed else "sandboxed, defaults"


def run_permissions(name: str | None, modules_dir: Path, config_path: Path | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        from sandbox.module_requests import describe_pending, load_module_requests
        from sandbox.permissions import DEFAULTS, PermissionsError, load_operator_config
    except ImportError as exc:
        print(
            f"solobot: module permissions are not available in this installation ({exc}): "
            "update Solobot (the sandbox package provides them)",
            file=sys.stderr,
        )
        return 1
    names = module_names(modules_dir)
    if name is not None and name not in names:
        known = ", ".join(names) or f"none in {modules_dir}"
        print(f"solobot: no module named {name!r} in {modules_dir} (known: {known}); pass the folder with --dir", file=sys.stderr)
        return 1
    try:
        config = load_operator_config(config_path, known_modules=names)
    except PermissionsError as exc:
        print(f"solobot: {exc}", file=sys.stderr)
        return 1
    print(f"operator config: {config.path or 'no modules.toml: every module gets the defaults'}", file=out)
    print(
        f"defaults: sandboxed, memory_mb = {DEFAULTS.memory_mb}, no network, no core tables, the default Bot API allowlist",
        file=out,
    )
    for warning in config.warnings:
        print(f"warning: {warning}", file=out)
    invalid = 0
    for module in [name] if name else names:
        error = config.error(module)
        if error is not None:
            invalid += 1
            print(f"{module}: WILL NOT START — {error}", file=out)
            continue
        granted = config.permissions(module)
        print(f"{module}: {granted_summary(granted, DEFAULTS)}", file=out)
        try:
            requests = load_module_requests(modules_dir / module)
        except PermissionsError as exc:
            print(f"  module.toml: {exc}", file=out)
            continue
        pending = describe_pending(requests, granted)
        for line in pending:
            print(f"  pending: {line}", file=out)
        if requests.requested and not pending:
            print("  requests: all granted", file=out)
    return 1 if invalid else 0
