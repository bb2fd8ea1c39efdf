"""One shape for every form that changes something: do it in a transaction, say how it went, go back.

``NotFound`` (somebody else's module, or none) answers 404; ``Refused`` (any refusal, with a
message for the person) becomes an error message on the page the person returns to.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import NoReturn

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from ..errors import NotFound, Refused
from .keys import CATALOG
from .render import flash


async def act(request: web.Request, work: Callable[[AsyncSession], Awaitable[str]], back: str) -> NoReturn:
    """Run ``work(db)`` in one transaction; flash the message it returns (or the refusal); redirect to ``back``."""
    try:
        async with request.app[CATALOG].sessions.begin() as db:
            message = await work(db)
        flash(request, message)
    except NotFound:
        raise web.HTTPNotFound() from None
    except Refused as exc:
        flash(request, str(exc), "error")
    raise web.HTTPSeeOther(back)
