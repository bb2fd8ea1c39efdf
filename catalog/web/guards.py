"""Who may see a page: signed in, a moderator; form values read safely."""

from __future__ import annotations

from aiohttp import web

from ..db.models import Account
from .keys import CATALOG, USER


def require_user(request: web.Request) -> Account:
    user = request.get(USER)
    if user is None:
        raise web.HTTPSeeOther("/login")
    return user


def require_moderator(request: web.Request) -> Account:
    user = require_user(request)
    if not request.app[CATALOG].is_moderator(user.tg_id):
        raise web.HTTPNotFound()
    return user


async def form_text(request: web.Request, name: str, limit: int = 20_000) -> str:
    value = (await request.post()).get(name)
    return value[:limit] if isinstance(value, str) else ""
