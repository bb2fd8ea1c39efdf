"""Moderators: the queue (applications, waiting releases), decisions with a reason, yanks, transfers, suspensions, audit."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .. import audit, counters
from ..applications.service import decide, pending
from ..db.models import Account, Module
from ..errors import NotFound, Refused
from ..releases.service import awaiting, moderate, transfer, yank
from .actions import act
from .guards import form_text, require_moderator
from .keys import CATALOG
from .render import render

routes = web.RouteTableDef()
QUEUE = "/moderation"


@routes.get("/moderation")
async def queue(request: web.Request) -> web.Response:
    require_moderator(request)
    async with request.app[CATALOG].sessions() as db:
        applications = await pending(db)
        releases = await awaiting(db)
        modules = list(await db.scalars(select(Module).order_by(Module.name)))
    return render(request, "moderation.html", applications=applications, releases=releases, modules=modules)


async def _decision(request: web.Request) -> tuple[int, int, bool, str]:
    """(moderator, object id, approve?, reason) of a decision form."""
    moderator = require_moderator(request)
    value = await form_text(request, "decision")
    if value not in ("approve", "reject"):
        raise web.HTTPBadRequest(text="decision must be approve or reject")
    return moderator.tg_id, int(request.match_info["id"]), value == "approve", await form_text(request, "reason", 2000)


@routes.post("/moderation/applications/{id:\\d+}")
async def decide_application(request: web.Request) -> web.Response:
    moderator_id, application_id, approve, reason = await _decision(request)

    async def work(db: AsyncSession) -> str:
        application = await decide(db, application_id, moderator_id, approve, reason)
        return f"Заявка «{application.module_name}» {'одобрена' if approve else 'отклонена'}."

    await act(request, work, QUEUE)


@routes.post("/moderation/releases/{id:\\d+}")
async def decide_release(request: web.Request) -> web.Response:
    moderator_id, release_id, approve, reason = await _decision(request)

    async def work(db: AsyncSession) -> str:
        release = await moderate(db, release_id, moderator_id, approve, reason)
        return f"{release.module} {release.version}: {'опубликован' if approve else 'отклонён'}."

    await act(request, work, QUEUE)


@routes.post("/moderation/modules/{name}/yank")
async def moderator_yank(request: web.Request) -> web.Response:
    moderator = require_moderator(request)
    name, version, reason = (
        request.match_info["name"],
        await form_text(request, "version", 64),
        await form_text(request, "reason", 2000),
    )

    async def work(db: AsyncSession) -> str:
        try:
            await yank(db, name, version, moderator.tg_id, moderator=True, reason=reason)
        except NotFound:
            raise Refused(f"У модуля {name} нет версии {version!r}.") from None
        return f"{name} {version} отозвана."

    await act(request, work, QUEUE)


@routes.post("/moderation/modules/{name}/transfer")
async def moderator_transfer(request: web.Request) -> web.Response:
    moderator = require_moderator(request)
    name, text = request.match_info["name"], (await form_text(request, "owner_id", 20)).strip()

    async def work(db: AsyncSession) -> str:
        account = await db.get(Account, int(text)) if text.isdigit() else None
        if account is None:
            raise Refused("Новый владелец должен хотя бы раз войти в каталог (укажите его Telegram ID).")
        await transfer(db, name, account.tg_id, moderator.tg_id)
        return f"Модуль передан {account.tg_id}; его следующая версия пройдёт модерацию."

    await act(request, work, QUEUE)


@routes.post("/moderation/modules/{name}/suspend")
async def moderator_suspend(request: web.Request) -> web.Response:
    moderator = require_moderator(request)
    name = request.match_info["name"]

    async def work(db: AsyncSession) -> str:
        module = await db.get(Module, name, with_for_update=True)
        if module is None:
            raise NotFound(name)
        module.suspended = not module.suspended
        await counters.bump(db, counters.INDEX)
        audit.record(db, moderator.tg_id, "module.suspend" if module.suspended else "module.resume", f"module:{name}")
        return f"Модуль {name} {'приостановлен' if module.suspended else 'возобновлён'}."

    await act(request, work, QUEUE)


@routes.post("/moderation/accounts/suspend")
async def moderator_suspend_account(request: web.Request) -> web.Response:
    """Suspend a person (or lift it): they cannot sign in, use their API tokens or upload."""
    moderator = require_moderator(request)
    text = (await form_text(request, "user_id", 20)).strip()

    async def work(db: AsyncSession) -> str:
        account = await db.get(Account, int(text), with_for_update=True) if text.isdigit() else None
        if account is None:
            raise Refused("Нет аккаунта с таким Telegram ID (он появляется при первом входе).")
        if account.tg_id == moderator.tg_id:
            raise Refused("Себя приостановить нельзя.")
        account.suspended = not account.suspended
        action = "account.suspend" if account.suspended else "account.resume"
        audit.record(db, moderator.tg_id, action, f"user:{account.tg_id}")
        return f"Аккаунт {account.tg_id} {'приостановлен' if account.suspended else 'восстановлен'}."

    await act(request, work, QUEUE)


@routes.get("/moderation/audit")
async def audit_log(request: web.Request) -> web.Response:
    require_moderator(request)
    async with request.app[CATALOG].sessions() as db:
        entries = await audit.recent(db)
    return render(request, "audit.html", entries=entries)
