"""Moderators: the queue (applications, waiting releases), decisions with a reason, yanks, transfers, suspensions, audit."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from .. import audit, counters
from ..applications.service import DecisionError, decide, pending
from ..db.models import Account, Module
from ..releases.service import NotFound, Refused, awaiting, moderate, transfer, yank
from .guards import form_text, require_moderator
from .keys import CATALOG
from .render import flash, render

routes = web.RouteTableDef()


@routes.get("/moderation")
async def queue(request: web.Request) -> web.Response:
    require_moderator(request)
    async with request.app[CATALOG].sessions() as db:
        applications = await pending(db)
        releases = await awaiting(db)
        modules = list(await db.scalars(select(Module).order_by(Module.name)))
    return render(request, "moderation.html", applications=applications, releases=releases, modules=modules)


def _approve(value: str) -> bool:
    if value not in ("approve", "reject"):
        raise web.HTTPBadRequest(text="decision must be approve or reject")
    return value == "approve"


@routes.post("/moderation/applications/{id:\\d+}")
async def decide_application(request: web.Request) -> web.Response:
    moderator = require_moderator(request)
    approve = _approve(await form_text(request, "decision"))
    try:
        async with request.app[CATALOG].sessions.begin() as db:
            application = await decide(
                db, int(request.match_info["id"]), moderator.tg_id, approve, await form_text(request, "reason", 2000)
            )
        flash(request, f"Заявка «{application.module_name}» {'одобрена' if approve else 'отклонена'}.")
    except DecisionError as exc:
        flash(request, str(exc), "error")
    raise web.HTTPSeeOther("/moderation")


@routes.post("/moderation/releases/{id:\\d+}")
async def decide_release(request: web.Request) -> web.Response:
    moderator = require_moderator(request)
    approve = _approve(await form_text(request, "decision"))
    try:
        async with request.app[CATALOG].sessions.begin() as db:
            release = await moderate(
                db, int(request.match_info["id"]), moderator.tg_id, approve, await form_text(request, "reason", 2000)
            )
        flash(request, f"{release.module} {release.version}: {'опубликован' if approve else 'отклонён'}.")
    except Refused as exc:
        flash(request, str(exc), "error")
    raise web.HTTPSeeOther("/moderation")


@routes.post("/moderation/modules/{name}/yank")
async def moderator_yank(request: web.Request) -> web.Response:
    moderator = require_moderator(request)
    name = request.match_info["name"]
    try:
        async with request.app[CATALOG].sessions.begin() as db:
            await yank(
                db,
                name,
                await form_text(request, "version", 64),
                moderator.tg_id,
                moderator=True,
                reason=await form_text(request, "reason", 2000),
            )
        flash(request, "Версия отозвана.")
    except (Refused, NotFound) as exc:
        flash(request, str(exc) if isinstance(exc, Refused) else "Нет такой версии.", "error")
    raise web.HTTPSeeOther("/moderation")


@routes.post("/moderation/modules/{name}/transfer")
async def moderator_transfer(request: web.Request) -> web.Response:
    moderator = require_moderator(request)
    text = (await form_text(request, "owner_id", 20)).strip()
    async with request.app[CATALOG].sessions.begin() as db:
        account = await db.get(Account, int(text)) if text.isdigit() else None
        if account is None:
            flash(request, "Новый владелец должен хотя бы раз войти в каталог (укажите его Telegram ID).", "error")
        else:
            await transfer(db, request.match_info["name"], account.tg_id, moderator.tg_id)
            flash(request, f"Модуль передан {account.tg_id}; его следующая версия пройдёт модерацию.")
    raise web.HTTPSeeOther("/moderation")


@routes.post("/moderation/modules/{name}/suspend")
async def moderator_suspend(request: web.Request) -> web.Response:
    moderator = require_moderator(request)
    async with request.app[CATALOG].sessions.begin() as db:
        module = await db.get(Module, request.match_info["name"], with_for_update=True)
        if module is None:
            raise web.HTTPNotFound()
        module.suspended = not module.suspended
        await counters.bump(db, counters.INDEX)
        audit.record(db, moderator.tg_id, "module.suspend" if module.suspended else "module.resume", f"module:{module.name}")
    raise web.HTTPSeeOther("/moderation")


@routes.get("/moderation/audit")
async def audit_log(request: web.Request) -> web.Response:
    require_moderator(request)
    async with request.app[CATALOG].sessions() as db:
        entries = await audit.recent(db)
    return render(request, "audit.html", entries=entries)
