"""A module's own site folder, ``<DATA_DIR>/module-packages/<name>``, and the record of what is in it.

Installing builds a fresh folder next to the old one and swaps it in, so a failed install
leaves the previous packages working. The folder is owned by the bot's user and read-only to
the module (its process may import from it, never change it); the record
(``solobot-install.json``) says which requirements were resolved to which exact versions, when.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from .plan import InstallPlan, PipError, run_pip

PACKAGES_FOLDER = "module-packages"
INSTALL_RECORD = "solobot-install.json"


def packages_root(data_dir: str | os.PathLike[str]) -> Path:
    """The folder holding every module's site folder."""
    return Path(data_dir).resolve() / PACKAGES_FOLDER


def site_dir(data_dir: str | os.PathLike[str], module: str) -> Path:
    return packages_root(data_dir) / module


def read_record(site: Path) -> dict[str, Any] | None:
    try:
        return json.loads((Path(site) / INSTALL_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def install_plan(plan: InstallPlan, site: Path, *, python: str = sys.executable) -> dict[str, Any]:
    """Install exactly ``plan.packages`` (pinned, no further resolution) into ``site``; return the record."""
    if plan.conflicts:
        raise PipError("conflicts with the bot's environment: " + "; ".join(plan.conflicts))
    site = Path(site)
    site.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(site.parent, 0o711)  # traversable, not listable: modules do not see each other's folders
    staging = site.with_name(f".{site.name}.new")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(mode=0o755)
    try:
        if plan.packages:
            pins = [p.pin for p in plan.packages]
            run_pip(python, ["install", "--quiet", "--no-deps", "--no-warn-script-location", "--target", str(staging), *pins])
        distributions = importlib.metadata.distributions(path=[str(staging)])
        installed = {canonicalize_name(d.metadata["Name"]): d.version for d in distributions}
        wrong = [p.pin for p in plan.packages if installed.get(canonicalize_name(p.name)) != p.version]
        if wrong:
            raise PipError(f"pip did not install what was planned: {', '.join(wrong)}")
        record = {
            "module": plan.module,
            "requirements": plan.requirements,
            "packages": {p.name: p.version for p in plan.packages},
            "sources": {p.name: p.source.rsplit("/", 1)[-1] for p in plan.packages},
            "installed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        }
        (staging / INSTALL_RECORD).write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        _swap_in(staging, site)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return record


def _swap_in(staging: Path, site: Path) -> None:
    old = site.with_name(f".{site.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if site.exists():
        site.rename(old)
    staging.rename(site)
    shutil.rmtree(old, ignore_errors=True)
