"""The module process: import one module and serve it to the host over the IPC channel.

``main`` is entered from the zygote right after fork. ``service`` answers the host's requests;
the other files re-make, inside this process, what the host cannot send: the bot (a real aiogram
``Bot`` whose session asks the host), FSM storage (the host's), database sessions (this
process's own connection), aiohttp requests for webhooks, and the filter summary of the module's
router that lets the host skip modules an update cannot match.
"""

from .service import main

__all__ = ["main"]
