"""«Управление модулями»: a developer's modules — description, image, releases with their reports, licences."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from ..images import ImageRejected
from ..licences.service import issue, of_module, revoke
from ..releases.service import (
    NotFound,
    Refused,
    modules_of,
    owned_module,
    releases_of,
    set_changelog,
    set_image,
    update_text,
    upload_release,
    yank,
)
from .guards import form_text, require_user
from .keys import CATALOG
from .render import flash, render

routes = web.RouteTableDef()


def _back(name: str, anchor: str = "") -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"/manage/{name}{anchor}")


async def _file(request: web.Request, field: str) -> tuple[bytes, str] | None:
    value = (await request.post()).get(field)
    if not isinstance(value, web.FileField):
        return None
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
    try:
        async with request.app[CATALOG].sessions.begin() as db:
            await update_text(
                db, name, user.tg_id,
                summary=await form_text(request, "summary", 400),
                description=await form_text(request, "description", 40_000),
                paid=(await form_text(request, "paid")) == "on",
            )  # fmt: skip
        flash(request, "Описание сохранено.")
    except NotFound:
        raise web.HTTPNotFound() from None
    except Refused as exc:
        flash(request, str(exc), "error")
    raise _back(name)


@routes.post("/manage/{name}/image")
async def upload_image(request: web.Request) -> web.Response:
    user = require_user(request)
    name = request.match_info["name"]
    catalog = request.app[CATALOG]
    upload = await _file(request, "image")
    if upload is None:
        flash(request, "Выберите файл изображения.", "error")
        raise _back(name, "#image")
    try:
        async with catalog.sessions.begin() as db:
            await set_image(db, catalog.storage, catalog.settings.limits, name, user.tg_id, *upload)
        flash(request, "Изображение сохранено.")
    except NotFound:
        raise web.HTTPNotFound() from None
    except ImageRejected as exc:
        flash(request, f"Изображение не принято: {exc}", "error")
    raise _back(name, "#image")


@routes.post("/manage/{name}/releases")
async def upload(request: web.Request) -> web.Response:
    user = require_user(request)
    name = request.match_info["name"]
    catalog = request.app[CATALOG]
    archive = await _file(request, "archive")
    if archive is None:
        flash(request, "Выберите архив .zip или .tar.gz с папкой modules/<имя>/.", "error")
        raise _back(name, "#upload")
    try:
        async with catalog.sessions.begin() as db:
            outcome = await upload_release(
                db,
                catalog.storage,
                catalog.checker,
                catalog.signer,
                name,
                user.tg_id,
                archive[0],
                await form_text(request, "changelog"),
            )
    except NotFound:
        raise web.HTTPNotFound() from None
    except Refused as exc:
        flash(request, str(exc), "error")
        raise _back(name, "#upload") from None
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
    try:
        async with request.app[CATALOG].sessions.begin() as db:
            await set_changelog(db, name, version, user.tg_id, await form_text(request, "changelog"))
    except NotFound:
        raise web.HTTPNotFound() from None
    flash(request, f"Список изменений {version} сохранён.")
    raise _back(name, "#releases")


@routes.post("/manage/{name}/releases/{version}/yank")
async def yank_release(request: web.Request) -> web.Response:
    user = require_user(request)
    name, version = request.match_info["name"], request.match_info["version"]
    try:
        async with request.app[CATALOG].sessions.begin() as db:
            await yank(db, name, version, user.tg_id, moderator=False, reason=await form_text(request, "reason", 2000))
        flash(request, f"Версия {version} отозвана: новые установки её не увидят.")
    except NotFound:
        raise web.HTTPNotFound() from None
    except Refused as exc:
        flash(request, str(exc), "error")
    raise _back(name, "#releases")


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
    try:
        user_id = _optional_int(await form_text(request, "user_id", 20))
        if user_id is None:
            raise Refused("Укажите Telegram ID покупателя.")
        async with catalog.sessions.begin() as db:
            licence = await issue(
                db, catalog.signer, name, user.tg_id, user_id,
                _optional_int(await form_text(request, "bot_id", 20)),
                _optional_date(await form_text(request, "not_after", 20)),
            )  # fmt: skip
        flash(request, f"Лицензия {licence.id} выдана пользователю {licence.user_id}.")
    except NotFound:
        raise web.HTTPNotFound() from None
    except Refused as exc:
        flash(request, str(exc), "error")
    raise _back(name, "#licences")


@routes.post("/manage/{name}/licences/{licence}/revoke")
async def revoke_licence(request: web.Request) -> web.Response:
    user = require_user(request)
    name = request.match_info["name"]
    try:
        async with request.app[CATALOG].sessions.begin() as db:
            licence = await revoke(db, name, user.tg_id, request.match_info["licence"])
        flash(request, f"Лицензия {licence.id} отозвана.")
    except NotFound:
        raise web.HTTPNotFound() from None
    except Refused as exc:
        flash(request, str(exc), "error")
    raise _back(name, "#licences")
