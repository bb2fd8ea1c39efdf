"""Solobot's entry point, and ``from bot import bot`` for code that wants "the bot".

``python bot.py`` runs the host bot (see ``host.main``). Importing this module has no side
effects: module processes pre-import it in the fork server, where there is no token. ``bot.bot``
is the process's current bot — the real one in the host, the module's proxied bot (whose
session sends every method to the host) in a module process — and it is looked up when the
attribute is read, so ``from bot import bot`` inside a handler always gets the right one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # aiogram's import takes seconds: `python bot.py` reports a bad setting before it
    from aiogram import Bot

_current: Bot | None = None


def set_current_bot(value: Bot | None) -> None:
    """Make ``value`` what ``bot.bot`` returns in this process (the host and module processes set it)."""
    global _current
    _current = value


def current_bot() -> Bot:
    if _current is None:
        raise RuntimeError("no bot in this process yet: the bot is created when the host (or a module process) starts")
    return _current


def __getattr__(name: str) -> Any:
    if name == "bot":
        return current_bot()
    raise AttributeError(f"module 'bot' has no attribute {name!r}")


if __name__ == "__main__":
    from host.main import main

    raise SystemExit(main())
