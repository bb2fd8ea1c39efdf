"""``solobot modules deps NAME``: install a module's own Python requirements, after showing exactly what.

Reads the module's ``requirements.txt`` / ``module.toml`` ``[project] dependencies``, asks pip's
resolver what that means here (nothing is installed for what the bot's environment already
has), prints every package with its exact version and file, and, once confirmed, installs those
exact versions into ``<DATA_DIR>/module-packages/<name>`` with a record of them. The running bot
picks them up at the module's next start (``solobot modules restart NAME``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

import module_deps
from runtime.discovery import is_valid_module_name


def run_deps(
    name: str,
    modules_dir: Path,
    data_dir: Path | None = None,
    *,
    assume_yes: bool = False,
    dry_run: bool = False,
    out: TextIO | None = None,
    stdin: TextIO | None = None,
) -> int:
    out, stdin = out or sys.stdout, stdin or sys.stdin
    if not is_valid_module_name(name):
        print(f"solobot: {name!r} is not a module name (letters, digits and underscores)", file=sys.stderr)
        return 2
    module_dir = Path(modules_dir) / name
    if not (module_dir / "__init__.py").is_file():
        print(f"solobot: no module named {name!r} in {modules_dir}; pass the folder of modules with --dir", file=sys.stderr)
        return 1
    if data_dir is None:
        from config import ConfigError, load_settings

        try:
            data_dir = Path(load_settings(require_token=False).data_dir)
        except ConfigError as exc:
            print(f"solobot: {exc}", file=sys.stderr)
            return 2
    site = module_deps.site_dir(data_dir, name)
    try:
        requirements = module_deps.read_requirements(module_dir)
    except module_deps.RequirementsError as exc:
        print(f"solobot: {exc}", file=sys.stderr)
        return 1
    if not requirements:
        print(f"{name}: declares no requirements (requirements.txt or [project] dependencies in module.toml)", file=out)
        return 0
    print(f"{name} requires: {', '.join(str(r) for r in requirements)}", file=out)
    print("resolving with pip (nothing is installed yet)…", file=out, flush=True)
    try:
        plan = module_deps.plan_install(name, requirements)
    except module_deps.PipError as exc:
        print(f"solobot: pip cannot resolve the requirements of {name}:\n{exc}", file=sys.stderr)
        return 1
    if plan.conflicts:
        print(f"solobot: {name} conflicts with the bot's own packages:", file=sys.stderr)
        for conflict in plan.conflicts:
            print(f"  {conflict}", file=sys.stderr)
        print("Ask the module's author to accept the versions the bot has.", file=sys.stderr)
        return 1
    previous = module_deps.read_record(site)
    if plan.packages:
        print(f"will install into {site}:", file=out)
        for line in plan.describe():
            print(f"  {line}", file=out)
    else:
        print("everything is already provided by the bot's environment: nothing to install", file=out)
    if previous:
        print(f"replacing what was installed on {previous.get('installed_at', '?')}: "
              + (", ".join(f"{k}=={v}" for k, v in previous.get("packages", {}).items()) or "nothing"), file=out)  # fmt: skip
    if dry_run:
        return 0
    if not assume_yes:
        if not stdin.isatty():
            print("solobot: not a terminal, so nothing was installed: run again with --yes to confirm", file=sys.stderr)
            return 1
        print("Install? [y/N] ", end="", file=out, flush=True)
        if stdin.readline().strip().lower() not in ("y", "yes", "д", "да"):
            print("nothing installed", file=out)
            return 1
    try:
        record = module_deps.install_plan(plan, site)
    except (module_deps.PipError, OSError) as exc:
        print(f"solobot: installing the requirements of {name} failed, the old ones stay:\n{exc}", file=sys.stderr)
        return 1
    pinned = ", ".join(f"{k}=={v}" for k, v in record["packages"].items()) or "nothing"
    print(f"installed {pinned}; recorded in {site / module_deps.INSTALL_RECORD}", file=out)
    print(f"the running bot uses them from the module's next start: solobot modules restart {name}", file=out)
    return 0
