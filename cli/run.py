"""``solobot run [--reload] [--workers N]``: the bot, as ``python bot.py``; hot reload of modules, or N workers."""

from __future__ import annotations


def run_bot(reload: bool, workers: int | None = None) -> int:
    from host.main import main

    return main(reload=reload, workers=workers)
