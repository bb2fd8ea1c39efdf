"""Whether a module's declared requirements are there, checked by the host before each start.

A requirement counts as met when the bot's own environment has a matching version (the module
process imports that copy first) or, failing that, the module's site folder has one. Anything
else stops the start: the module is ``failed`` with the list and the command that fixes it.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

from packaging.requirements import Requirement

from .declared import read_requirements


class MissingRequirements(RuntimeError):
    def __init__(self, module: str, missing: list[str]) -> None:
        super().__init__(
            f"module {module} needs Python packages that are not installed: {', '.join(missing)}. "
            f"Install them with: solobot modules deps {module}"
        )
        self.module = module
        self.missing = missing


def check_requirements(module_dir: Path, site: Path | None) -> Path | None:
    """``site`` when the module needs it on ``sys.path``, ``None`` when it needs nothing from it.

    Raises ``MissingRequirements`` (what is missing, and the command) or ``RequirementsError``
    (the module's requirement files are unusable).
    """
    module_dir = Path(module_dir)
    requirements = read_requirements(module_dir)
    missing, from_site = [], False
    for requirement in requirements:
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue  # not for this Python or platform
        core = _version(requirement.name, None)
        if core is not None and _satisfies(requirement, core):
            continue
        own = _version(requirement.name, site) if site is not None and core is None else None
        if own is not None and _satisfies(requirement, own):
            from_site = True
            continue
        found = core or own
        missing.append(f"{requirement}" + (f" (found {found})" if found else ""))
    if missing:
        raise MissingRequirements(module_dir.name, missing)
    return site if from_site else None


def _version(name: str, site: Path | None) -> str | None:
    if site is None:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return None
    for distribution in importlib.metadata.distributions(name=name, path=[str(site)]):
        return distribution.version
    return None


def _satisfies(requirement: Requirement, version: str) -> bool:
    return requirement.specifier.contains(version, prereleases=True)
