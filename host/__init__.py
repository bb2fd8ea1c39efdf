"""The host process, assembled: settings → database → bot → dispatcher → module runtime → web server.

``SolobotHost`` is the whole bot as an async context manager (tests and the demo run it in
their own event loop); ``host.main`` is ``python bot.py``.
"""

from .app import SolobotHost

__all__ = ["SolobotHost"]
