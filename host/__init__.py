"""The host process, assembled: settings → database → bot → dispatcher → module runtime → web server.

``SolobotHost`` is the whole bot as an async context manager (tests and the demo run it in
their own event loop); ``host.main`` is ``python bot.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import SolobotHost

__all__ = ["SolobotHost"]


def __getattr__(name: str) -> Any:
    # Imported on first use: ``python bot.py`` (``host.main``) checks the settings before paying
    # for aiogram's import, so a bad setting is reported at once.
    if name == "SolobotHost":
        from .app import SolobotHost

        return SolobotHost
    raise AttributeError(f"module 'host' has no attribute {name!r}")
