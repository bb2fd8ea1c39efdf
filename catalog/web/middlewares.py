"""Session cookie, signed-in person, CSRF on every form, security headers, friendly error pages."""

from __future__ import annotations

import copy
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from sqlalchemy import select

from ..accounts.sessions import COOKIE, MAX_AGE, csrf_ok
from ..db.models import Account, Module
from .keys import CATALOG, DEVELOPER, SESSION, USER
from .render import message_page

log = logging.getLogger("solobot.catalog")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CSP = (
    "default-src 'self'; img-src 'self' data: https://t.me https://telegram.org; script-src 'self' https://telegram.org; "
    "frame-src https://oauth.telegram.org; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


@web.middleware
async def session_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    catalog = request.app[CATALOG]
    session, fresh = catalog.cookies.load(request.cookies.get(COOKIE))
    original = copy.deepcopy(session)
    request[SESSION] = session
    request[USER] = None
    if session.get("uid") is not None:
        async with catalog.sessions() as db:
            account = await db.get(Account, session["uid"])
            if account is not None and not account.suspended:
                request[USER] = account
                request[DEVELOPER] = (
                    await db.scalar(select(Module.name).where(Module.owner_id == account.tg_id).limit(1))
                ) is not None
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        response = exc
    if (fresh or session != original) and not request.path.startswith("/api/"):
        response.set_cookie(
            COOKIE,
            catalog.cookies.dump(session),
            max_age=MAX_AGE,
            httponly=True,
            samesite="Lax",
            secure=catalog.settings.secure_cookies,
            path="/",
        )
    if isinstance(response, web.HTTPException):
        raise response
    return response


@web.middleware
async def csrf_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every POST outside the token-authenticated API must carry the session's CSRF token."""
    if request.method == "POST" and not request.path.startswith("/api/"):
        form = await request.post()
        given = form.get("csrf")
        if not csrf_ok(request[SESSION], given if isinstance(given, str) else None):
            return message_page(
                request,
                "Форма устарела",
                "Форма отправлена без действительного токена защиты (CSRF). Обновите страницу и попробуйте снова.",
                403,
            )
    return await handler(request)


@web.middleware
async def headers_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status == 404 and not request.path.startswith("/api/") and exc.text and exc.text.startswith("404"):
            response = message_page(request, "Не найдено", "Такой страницы нет (или она не ваша).", 404)
        else:
            _secure(exc)
            raise
    _secure(response)
    return response


def _secure(response: web.StreamResponse) -> None:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
