"""«Управление модулями»: a developer's modules — description, image, releases with their reports, licences."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from ..errors import NotFound, Refused
from ..licences.service import issue, of_module, revoke
from ..releases.service import modules_of, owned_module, releases_of, set_changelog, set_image, update_text, upload_release, yank
from .actions import act
from .guards import form_text, require_user
from .keys import CATALOG
from .render import flash, render

routes = web.RouteTableDef()


def _page(name: str, anchor: str = "") -> str:
    return f"/manage/{name}{anchor}"


async def _file(request: web.Request, field: str, missing: str, back: str) -> tuple[bytes, str]:
    """The uploaded file of ``field`` (content, filename); without one, back to the form saying ``missing``."""
    value = (await request.post()).get(field)
    if not isinstance(value, web.FileField):
        flash(request, missing, "error")
        raise web.HTTPSeeOther(back)
    return value.file.read(), value.filename or ""


@routes.get("/manage")
async def my_modules(request: web.Request) -> web.Response:
    user = require_user(request)
    async with request.app[CATALOG].sessions() as db:
        modules = await modules_of(db, user.tg_id)
    return render(request, "manage.html", modules=modules)


@routes.get("/manage/{name}")
async def manage_module(request: web.Request) -> web.Response:
    user = require_user(request)
    name = request.match_info["name"]
    async with request.app[CATALOG].sessions() as db:
        try:
            module = await owned_module(db, name, user.tg_id)
        except NotFound:
            raise web.HTTPNotFound() from None
        releases = await releases_of(db, name)
        licences = await of_module(db, name)
    return render(request, "manage_module.html", module=module, releases=list(reversed(releases)), licences=licences)


@routes.post("/manage/{name}/text")
async def update_description(request: web.Request) -> web.Response:
    user = require_user(request)
    name = request.match_info["name"]
    summary, description = await form_text(request, "summary", 400), await form_text(request, "description", 40_000)
    paid = (await form_text(request, "paid")) == "on"

    async def work(db: AsyncSession) -> str:
        await update_text(db, name, user.tg_id, summary=summary, description=description, paid=paid)
        return "Описание сохранено."

    await act(request, work, _page(name))


@routes.post("/manage/{name}/image")
async def upload_image(request: web.Request) -> web.Response:
    user = require_user(request)
    name = request.match_info["name"]
    catalog = request.app[CATALOG]
    data, filename = await _file(request, "image", "Выберите файл изображения.", _page(name, "#image"))

    async def work(db: AsyncSession) -> str:
        await set_image(db, catalog.storage, catalog.settings.limits, name, user.tg_id, data, filename)
        return "Изображение сохранено."

    await act(request, work, _page(name, "#image"))


@routes.post("/manage/{name}/releases")
async def upload(request: web.Request) -> web.Response:
    """Not ``act``: the answer is the check report itself, accepted (201) or not (422)."""
    user = require_user(request)
    name = request.match_info["name"]
    catalog = request.app[CATALOG]
    data, _ = await _file(request, "archive", "Выберите архив .zip или .tar.gz с папкой modules/<имя>/.", _page(name, "#upload"))
    changelog = await form_text(request, "changelog")
    try:
        async with catalog.sessions.begin() as db:
            outcome = await upload_release(
                db, catalog.storage, catalog.checker, catalog.signer, name, user.tg_id, data, changelog
            )
    except NotFound:
        raise web.HTTPNotFound() from None
    except Refused as exc:
        flash(request, str(exc), "error")
        raise web.HTTPSeeOther(_page(name, "#upload")) from None
    status = 201 if outcome.release else 422
    return render(
        request, "upload_result.html", status=status, module_name=name, outcome=outcome, report=outcome.report.to_json()
    )


@routes.get("/manage/{name}/releases/{version}")
async def release_report(request: web.Request) -> web.Response:
    user = require_user(request)
    name, version = request.match_info["name"], request.match_info["version"]
    async with request.app[CATALOG].sessions() as db:
        try:
            await owned_module(db, name, user.tg_id)
        except NotFound:
            raise web.HTTPNotFound() from None
        release = next((r for r in await releases_of(db, name) if r.version == version), None)
    if release is None:
        raise web.HTTPNotFound()
    return render(request, "release.html", module_name=name, release=release, report=release.report)


@routes.post("/manage/{name}/releases/{version}/changelog")
async def edit_changelog(request: web.Request) -> web.Response:
    user = require_user(request)
    name, version = request.match_info["name"], request.match_info["version"]
    changelog = await form_text(request, "changelog")

    async def work(db: AsyncSession) -> str:
        await set_changelog(db, name, version, user.tg_id, changelog)
        return f"Список изменений {version} сохранён."

    await act(request, work, _page(name, "#releases"))


@routes.post("/manage/{name}/releases/{version}/yank")
async def yank_release(request: web.Request) -> web.Response:
    user = require_user(request)
    name, version = request.match_info["name"], request.match_info["version"]
    reason = await form_text(request, "reason", 2000)

    async def work(db: AsyncSession) -> str:
        await yank(db, name, version, user.tg_id, moderator=False, reason=reason)
        return f"Версия {version} отозвана: новые установки её не увидят."

    await act(request, work, _page(name, "#releases"))


def _optional_int(text: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not text.isdigit():
        raise Refused("ID — это число (например, 123456789).")
    return int(text)


def _optional_date(text: str) -> datetime | None:
    text = text.strip()
    if not text:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        raise Refused("Дата окончания — в формате ГГГГ-ММ-ДД.") from None


@routes.post("/manage/{name}/licences")
async def issue_licence(request: web.Request) -> web.Response:
    user = require_user(request)
    name = request.match_info["name"]
    catalog = request.app[CATALOG]
    fields = {key: await form_text(request, key, 20) for key in ("user_id", "bot_id", "not_after")}

    async def work(db: AsyncSession) -> str:
        buyer = _optional_int(fields["user_id"])
        if buyer is None:
            raise Refused("Укажите Telegram ID покупателя.")
        bot_id, not_after = _optional_int(fields["bot_id"]), _optional_date(fields["not_after"])
        licence = await issue(db, catalog.signer, name, user.tg_id, buyer, bot_id, not_after)
        return f"Лицензия {licence.id} выдана пользователю {licence.user_id}."

    await act(request, work, _page(name, "#licences"))


@routes.post("/manage/{name}/licences/{licence}/revoke")
async def revoke_licence(request: web.Request) -> web.Response:
    user = require_user(request)
    name, licence_id = request.match_info["name"], request.match_info["licence"]

    async def work(db: AsyncSession) -> str:
        licence = await revoke(db, name, user.tg_id, licence_id)
        return f"Лицензия {licence.id} отозвана."

    await act(request, work, _page(name, "#licences"))
