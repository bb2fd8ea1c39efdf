"""Write N trivial modules into a folder, laid out as the seed lays out a module.

Each module ``m000``, ``m001``, ... registers one async ``profile_menu`` hook that returns
``{"after": "balance", "button": InlineKeyboardButton(text=f"m{i}", callback_data=f"m{i}")}``.
The hook function lives in ``hook.py`` (``router.py`` imports and registers it), so a benchmark
can also import the very same function into its own process without registering it under
``profile_menu`` there (see ``load_hook_functions``).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

INIT_PY = """\
__all__ = ("router",)
from .router import router
"""

ROUTER_PY = """\
from aiogram import Router

from hooks.hooks import register_hook

from .hook import profile_menu_hook

router = Router()

register_hook("profile_menu", profile_menu_hook)
"""

HOOK_PY = """\
from aiogram.types import InlineKeyboardButton


async def profile_menu_hook(**kwargs):
    return {{"after": "balance", "button": InlineKeyboardButton(text="m{i}", callback_data="m{i}")}}
"""


def module_name(i: int) -> str:
    return f"m{i:03d}"


def write_modules(root: str | Path, count: int) -> list[str]:
    """Create ``count`` modules in ``root`` (created if missing); return their names in load order."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(count):
        name = module_name(i)
        folder = root / name
        folder.mkdir()
        (folder / "__init__.py").write_text(INIT_PY, encoding="utf-8")
        (folder / "router.py").write_text(ROUTER_PY, encoding="utf-8")
        (folder / "hook.py").write_text(HOOK_PY.format(i=i), encoding="utf-8")
        (folder / "VERSION").write_text("1.0.0\n", encoding="utf-8")
        names.append(name)
    return names


def load_hook_functions(root: str | Path, names: list[str]) -> list[Callable[..., Any]]:
    """Import each module's ``hook.py`` into this process and return its ``profile_menu_hook``."""
    functions = []
    for name in names:
        path = Path(root) / name / "hook.py"
        spec = importlib.util.spec_from_file_location(f"_bench_inprocess_{Path(root).name}_{name}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        functions.append(module.profile_menu_hook)
    return functions
