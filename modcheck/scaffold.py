"""``create_module``: a new module in the seed's layout that passes the checker."""

from __future__ import annotations

import keyword
from pathlib import Path
from string import Template

from . import templates


class ScaffoldError(ValueError):
    """The module cannot be created; ``str()`` says what to do instead."""


def validate_name(name: str, modules_dir: Path) -> None:
    if not name or not name.isidentifier() or not name.isascii():
        raise ScaffoldError(
            f"{name!r} is not a valid module name: use latin letters, digits and underscores, "
            "starting with a letter (e.g. my_module)"
        )
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        raise ScaffoldError(f"{name!r} is a Python keyword: choose another name (e.g. {name}_module)")
    if name.startswith("_"):
        raise ScaffoldError(f"{name!r} starts with an underscore: the loader skips such folders — start with a letter")
    target = modules_dir / name
    if target.exists():
        raise ScaffoldError(f"{target} already exists: choose another name, or delete/rename the existing folder first")
    if modules_dir.exists() and not modules_dir.is_dir():
        raise ScaffoldError(f"{modules_dir} is not a directory: pass the folder of modules with --dir")


def _class_name(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part) or "Module"


def render(name: str, with_db: bool = False) -> dict[str, str]:
    """File name -> contents of a new module (nothing is written)."""
    values = {"name": name, "class_name": _class_name(name)}

    def fill(template: str) -> str:
        return Template(template).substitute(values)

    files = {
        "__init__.py": templates.INIT + (templates.INIT_MODELS if with_db else ""),
        "router.py": fill(templates.ROUTER_DB if with_db else templates.ROUTER),
        "texts.py": fill(templates.TEXTS) + (templates.TEXTS_DB if with_db else ""),
        "settings.py": templates.SETTINGS + (templates.SETTINGS_DB if with_db else ""),
        "VERSION": templates.VERSION,
    }
    if with_db:
        files["models.py"] = fill(templates.MODELS)
        files["db.py"] = fill(templates.DB)
        files["module.toml"] = templates.MODULE_TOML_DB
    return files


def create_module(name: str, modules_dir: str | Path = "modules", with_db: bool = False) -> Path:
    """Create ``modules_dir/name`` with a profile_menu button and a screen with a back button; return the folder.

    Raises ScaffoldError for an invalid or taken name (nothing is written then).
    """
    modules_dir = Path(modules_dir)
    validate_name(name, modules_dir)
    folder = modules_dir / name
    files = render(name, with_db)
    folder.mkdir(parents=True)
    for filename, text in files.items():
        (folder / filename).write_text(text, encoding="utf-8")
    return folder
