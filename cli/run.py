"""``solobot run [--reload]``: the bot, as ``python bot.py``, optionally with hot reload of modules."""

from __future__ import annotations


def run_bot(reload: bool) -> int:
    from host.main import main

    return main(reload=reload)
