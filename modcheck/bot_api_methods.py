"""Which Bot API methods module code calls: ``bot.send_message(...)`` and the aiogram shortcuts
(``message.answer(...)`` is sendMessage, ``callback.message.edit_text(...)`` editMessageText).

Static and approximate by design (any ``x.answer(...)`` counts as sendMessage): it feeds the census
of methods the local Bot API server must implement (``docs/bot-api-methods.md``), where a method
counted too many is harmless and a method missed would be a gap.

    python -m modcheck.bot_api_methods PATH...   # method → files calling it
"""

from __future__ import annotations

import ast
import inspect
import sys
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from aiogram import Bot, methods
from aiogram.types import CallbackQuery, ChatJoinRequest, InaccessibleMessage, Message

_SHORTCUT_OWNERS = (Message, CallbackQuery, ChatJoinRequest, InaccessibleMessage)
_NOT_API = frozenset({"session", "token", "id", "me", "context", "download", "download_file", "close", "get_file"})


@cache
def api_name(attribute: str) -> str | None:
    """The Bot API method an aiogram call ``obj.<attribute>(...)`` makes, or None."""
    if attribute.startswith("_") or attribute in _NOT_API:
        return None
    if callable(getattr(Bot, attribute, None)):
        cls = getattr(methods, "".join(part.title() for part in attribute.split("_")), None)
        if cls is not None and hasattr(cls, "__api_method__"):
            return str(cls.__api_method__)
    for owner in _SHORTCUT_OWNERS:
        func = getattr(owner, attribute, None)
        if not callable(func):
            continue
        returned = inspect.signature(func).return_annotation
        cls = getattr(methods, returned if isinstance(returned, str) else getattr(returned, "__name__", ""), None)
        if cls is not None and hasattr(cls, "__api_method__"):
            return str(cls.__api_method__)
    return None


def methods_used(paths: Iterable[Path]) -> dict[str, set[Path]]:
    """Bot API method → the ``.py`` files under ``paths`` that call it."""
    used: dict[str, set[Path]] = {}
    for root in paths:
        for path in sorted(root.rglob("*.py")) if root.is_dir() else [root]:
            try:
                tree = ast.parse(path.read_text(encoding="utf-8"))
            except (SyntaxError, UnicodeDecodeError):
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                    name = api_name(node.func.attr)
                    if name:
                        used.setdefault(name, set()).add(path)
    return used


def main(argv: list[str]) -> int:
    for name, files in sorted(methods_used(Path(a) for a in argv).items()):
        print(f"{name}: {len(files)} file(s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
