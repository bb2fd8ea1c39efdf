"""Signing in (Login Widget, one-time link confirmed in the bot), signing out, the personal cabinet, API tokens."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from ..accounts import api_tokens
from ..accounts.login_links import NONCE, complete_link, create_link
from ..accounts.store import sign_in
from ..accounts.widget import TelegramIdentity, WidgetError, check_widget
from ..applications.service import of_user as applications_of
from ..db.models import Module
from ..licences.service import of_user as licences_of
from .guards import form_text, require_user
from .keys import CATALOG, SESSION
from .render import flash, message_page, render

routes = web.RouteTableDef()


async def _signed_in(request: web.Request, identity: TelegramIdentity) -> web.Response:
    catalog = request.app[CATALOG]
    async with catalog.sessions.begin() as db:
        account = await sign_in(db, identity)
        if account.suspended:
            return message_page(request, "Вход закрыт", "Аккаунт приостановлен модератором каталога.", 403)
    session = request[SESSION]
    session.pop("login_nonce", None)
    session["uid"] = identity.tg_id
    flash(request, f"Вы вошли как {identity.first_name or identity.tg_id}.")
    raise web.HTTPSeeOther("/cabinet")


@routes.get("/login")
async def login(request: web.Request) -> web.Response:
    catalog = request.app[CATALOG]
    widget = bool(catalog.settings.bot_token and catalog.bot_username and not catalog.settings.telegram_api_url)
    return render(request, "login.html", widget=widget, bot_username=catalog.bot_username, public_url=catalog.settings.public_url)


@routes.post("/login/link")
async def start_link(request: web.Request) -> web.Response:
    catalog = request.app[CATALOG]
    if not catalog.bot_username:
        return message_page(request, "Вход через бота недоступен", "Оператор каталога не настроил CATALOG_BOT_TOKEN.", 503)
    async with catalog.sessions.begin() as db:
        nonce = await create_link(db)
    request[SESSION]["login_nonce"] = nonce
    raise web.HTTPSeeOther("/login/wait")


@routes.get("/login/link/{nonce}")
async def adopt_link(request: web.Request) -> web.Response:
    """A login link printed elsewhere (the demo): this browser waits for it."""
    nonce = request.match_info["nonce"]
    if NONCE.fullmatch(nonce):
        request[SESSION]["login_nonce"] = nonce
    raise web.HTTPSeeOther("/login/wait")


@routes.get("/login/wait")
async def wait_link(request: web.Request) -> web.Response:
    catalog = request.app[CATALOG]
    nonce = request[SESSION].get("login_nonce")
    if not nonce:
        raise web.HTTPSeeOther("/login")
    async with catalog.sessions.begin() as db:
        identity = await complete_link(db, nonce)
    if identity is not None:
        return await _signed_in(request, identity)
    deep_link = f"https://t.me/{catalog.bot_username}?start=login_{nonce}"
    return render(
        request, "login_wait.html", deep_link=deep_link, command=f"/start login_{nonce}", bot_username=catalog.bot_username
    )


@routes.get("/auth/telegram")
async def widget_callback(request: web.Request) -> web.Response:
    catalog = request.app[CATALOG]
    if not catalog.settings.bot_token:
        raise web.HTTPNotFound()
    try:
        identity = check_widget(dict(request.query), catalog.settings.bot_token)
    except WidgetError as exc:
        return message_page(request, "Вход не удался", str(exc), 403)
    return await _signed_in(request, identity)


@routes.post("/logout")
async def logout(request: web.Request) -> web.Response:
    request[SESSION].clear()
    request[SESSION].update(request.app[CATALOG].cookies.load(None)[0])
    raise web.HTTPSeeOther("/")


@routes.get("/cabinet")
async def cabinet(request: web.Request) -> web.Response:
    return await cabinet_page(request)


async def cabinet_page(request: web.Request, new_token: str | None = None) -> web.Response:
    """The cabinet; ``new_token`` is shown once, right after it was created."""
    user = require_user(request)
    catalog = request.app[CATALOG]
    async with catalog.sessions() as db:
        licences = await licences_of(db, user.tg_id)
        applications = await applications_of(db, user.tg_id)
        tokens = await api_tokens.list_tokens(db, user.tg_id)
        modules = list(await db.scalars(select(Module.name).where(Module.owner_id == user.tg_id)))
    return render(
        request, "cabinet.html", licences=licences, applications=applications, tokens=tokens, modules=modules, new_token=new_token
    )


@routes.post("/cabinet/tokens")
async def create_token(request: web.Request) -> web.Response:
    user = require_user(request)
    async with request.app[CATALOG].sessions.begin() as db:
        token = await api_tokens.create_token(db, user.tg_id, await form_text(request, "name", 64))
    return await cabinet_page(request, new_token=token)


@routes.post("/cabinet/tokens/{id:\\d+}/revoke")
async def revoke_token(request: web.Request) -> web.Response:
    user = require_user(request)
    async with request.app[CATALOG].sessions.begin() as db:
        done = await api_tokens.revoke_token(db, user.tg_id, int(request.match_info["id"]))
    flash(request, "Токен отозван." if done else "Токен не найден.", "ok" if done else "error")
    raise web.HTTPSeeOther("/cabinet")
