"""What a module declares it needs: ``requirements.txt`` or ``[project] dependencies`` in ``module.toml``.

Both files come from the module's author, so they are read as untrusted text: size-capped, and
only plain requirement lines are accepted. pip options (``-r``, ``-e``, ``--index-url``, URLs
and paths) are refused with the line number: where packages come from is the operator's choice
(pip's configuration), never a module's.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

REQUIREMENTS_FILE = "requirements.txt"
MODULE_TOML = "module.toml"
MAX_FILE_BYTES = 64 * 1024
MAX_REQUIREMENTS = 100


class RequirementsError(ValueError):
    """A module's requirements cannot be read; ``str()`` names the module, the file and the line."""

    def __init__(self, message: str, file: str = REQUIREMENTS_FILE, line: int = 1) -> None:
        super().__init__(message)
        self.file = file
        self.line = line


def read_requirements(module_dir: Path) -> list[Requirement]:
    """The module's requirements, in file order; both files may be used, duplicates are merged."""
    module_dir = Path(module_dir)
    module = module_dir.name
    found: list[Requirement] = []
    txt = module_dir / REQUIREMENTS_FILE
    if txt.is_file():
        found.extend(_from_requirements_txt(module, txt))
    toml = module_dir / MODULE_TOML
    if toml.is_file():
        found.extend(_from_module_toml(module, toml))
    if len(found) > MAX_REQUIREMENTS:
        raise RequirementsError(f"module {module}: {len(found)} requirements, at most {MAX_REQUIREMENTS} are accepted")
    unique: dict[str, Requirement] = {}
    for requirement in found:
        key = str(requirement)
        unique.setdefault(key, requirement)
    return list(unique.values())


def _read_text(module: str, path: Path) -> str:
    if path.is_symlink():
        raise RequirementsError(
            f"module {module}: {path.name} is a symlink; it must be a plain file in the module folder", path.name
        )
    data = path.read_bytes()[: MAX_FILE_BYTES + 1]
    if len(data) > MAX_FILE_BYTES:
        raise RequirementsError(f"module {module}: {path.name} is larger than {MAX_FILE_BYTES // 1024} KiB", path.name)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise RequirementsError(f"module {module}: {path.name} is not UTF-8 text", path.name) from None


def _from_requirements_txt(module: str, path: Path) -> list[Requirement]:
    requirements = []
    for number, raw in enumerate(_read_text(module, path).splitlines(), start=1):
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        where = f"module {module}: {path.name} line {number}"
        if line.startswith("-"):
            raise RequirementsError(
                f"{where}: pip option {line.split()[0]!r} is not accepted; list package requirements only "
                "(where packages come from is the operator's pip configuration)",
                path.name,
                number,
            )
        requirements.append(_parse(where, line, path.name, number))
    return requirements


def _from_module_toml(module: str, path: Path) -> list[Requirement]:
    try:
        data = tomllib.loads(_read_text(module, path))
    except tomllib.TOMLDecodeError as exc:
        raise RequirementsError(f"module {module}: {path.name} is not valid TOML: {exc}", path.name) from None
    project = data.get("project", {})
    if not isinstance(project, dict):
        raise RequirementsError(f"module {module}: {path.name}: [project] must be a table", path.name)
    dependencies = project.get("dependencies", [])
    if not isinstance(dependencies, list) or not all(isinstance(d, str) for d in dependencies):
        raise RequirementsError(
            f'module {module}: {path.name}: [project] dependencies must be a list of strings like "httpx>=0.27"', path.name
        )
    where = f"module {module}: {path.name} [project] dependencies"
    return [_parse(where, d.strip(), path.name, 1) for d in dependencies]


def _parse(where: str, text: str, file: str, line: int) -> Requirement:
    try:
        requirement = Requirement(text)
    except InvalidRequirement as exc:
        raise RequirementsError(f"{where}: {text!r} is not a requirement ({exc})", file, line) from None
    if requirement.url:
        raise RequirementsError(f"{where}: {text!r} installs from a URL; name a package and version instead", file, line)
    return requirement
