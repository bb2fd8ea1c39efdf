"""What installing a module's requirements means, exactly: pip's resolver run without installing.

``pip install --dry-run --report`` resolves the requirements against the bot's own environment
(what the core already has is not installed again) through the operator's pip configuration
(index, find-links, constraints), and reports every distribution it would install, with its
exact version and the file it would use. That list is what the operator is shown and what is
then installed, pinned, so the folder holds exactly what was shown.

A requirement the core's environment cannot satisfy with what it has (another version of a
package the core uses) is a conflict: the module process imports the core's copy first, so
installing a second one would not help; it is reported, not installed.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PIP_TIMEOUT = 900.0


class PipError(RuntimeError):
    """pip failed; ``str()`` is its own explanation (the last lines of its output)."""


@dataclass(frozen=True)
class PlannedPackage:
    name: str
    version: str
    source: str  # the file pip would install (wheel or sdist name), or its URL when it has no name
    requested: bool  # listed by the module itself (else pulled in by one of its requirements)

    @property
    def pin(self) -> str:
        return f"{self.name}=={self.version}"

    @property
    def native(self) -> bool:
        """A wheel with compiled code (not ``py3-none-any``), or an sdist that may build some."""
        stem = self.source.rsplit("/", 1)[-1]
        return not (stem.endswith("-none-any.whl") or stem.endswith("-py2.py3-none-any.whl"))


@dataclass(frozen=True)
class InstallPlan:
    module: str
    requirements: list[str]
    packages: list[PlannedPackage] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)  # "aiohttp 2.0 (the core has 3.13.2)"

    def describe(self) -> list[str]:
        """Human lines: what will be installed, one package each."""
        lines = []
        for package in self.packages:
            notes = ["requested" if package.requested else "dependency"]
            if package.native:
                notes.append("compiled code" if package.source.endswith(".whl") else "built from source")
            lines.append(f"{package.pin:<40} {', '.join(notes)}  ({package.source.rsplit('/', 1)[-1]})")
        return lines


def plan_install(module: str, requirements: list[Requirement], *, python: str = sys.executable) -> InstallPlan:
    """Resolve ``requirements`` for ``module`` against this environment; nothing is installed."""
    texts = [str(r) for r in requirements]
    if not texts:
        return InstallPlan(module, [])
    with tempfile.TemporaryDirectory(prefix="solobot-deps-") as tmp:
        report_path = Path(tmp) / "report.json"
        run_pip(python, ["install", "--dry-run", "--quiet", "--report", str(report_path), *texts])
        report = json.loads(report_path.read_text(encoding="utf-8"))
    requested = {canonicalize_name(r.name) for r in requirements}
    packages, conflicts = [], []
    for item in report.get("install", []):
        metadata = item.get("metadata") or {}
        name, version = str(metadata.get("name", "")), str(metadata.get("version", ""))
        url = str((item.get("download_info") or {}).get("url", ""))
        core_version = _core_version(name)
        if core_version is not None:
            conflicts.append(f"{name} {version} (the bot's environment has {core_version}, which the module would import)")
            continue
        packages.append(PlannedPackage(name, version, url, canonicalize_name(name) in requested))
    return InstallPlan(module, texts, packages, conflicts)


def _core_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def run_pip(python: str, args: list[str]) -> str:
    """Run ``python -m pip ARGS`` with the operator's pip configuration; ``PipError`` on failure."""
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    try:
        done = subprocess.run(
            [python, "-m", "pip", *args], capture_output=True, text=True, env=env, timeout=PIP_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        raise PipError(f"pip did not finish within {PIP_TIMEOUT:.0f} s") from None
    if done.returncode != 0:
        output = (done.stderr.strip() or done.stdout.strip()).splitlines()
        raise PipError("\n".join(output[-15:]) or f"pip exited with code {done.returncode}")
    return done.stdout
