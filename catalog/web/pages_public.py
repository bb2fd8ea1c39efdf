"""Public pages: the list of modules, a module's page, its image."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from ..db.models import Module, Release
from ..markdown import render_markdown
from ..storage import check_key
from .keys import CATALOG
from .render import render

routes = web.RouteTableDef()


@routes.get("/")
async def home(request: web.Request) -> web.Response:
    catalog = request.app[CATALOG]
    async with catalog.sessions() as db:
        modules = list(await db.scalars(select(Module).where(Module.suspended.is_(False)).order_by(Module.name)))
        published = set(await db.scalars(select(Release.module).where(Release.status == "published")))
    return render(request, "home.html", modules=[m for m in modules if m.name in published])


@routes.get("/modules/{name}")
async def module_page(request: web.Request) -> web.Response:
    catalog = request.app[CATALOG]
    async with catalog.sessions() as db:
        module = await db.get(Module, request.match_info["name"])
        if module is None or module.suspended:
            raise web.HTTPNotFound()
        releases = list(
            await db.scalars(
                select(Release)
                .where(Release.module == module.name, Release.status.in_(("published", "yanked")))
                .order_by(Release.id.desc())
            )
        )
    return render(request, "module.html", module=module, releases=releases, description=render_markdown(module.description))


@routes.get("/files/images/{module}/{file}")
async def image(request: web.Request) -> web.Response:
    catalog = request.app[CATALOG]
    try:
        key = check_key(f"images/{request.match_info['module']}/{request.match_info['file']}")
    except ValueError:
        raise web.HTTPNotFound() from None
    if not key.endswith(".jpg") or not catalog.storage.exists(key):
        raise web.HTTPNotFound()
    return web.Response(
        body=catalog.storage.get(key), content_type="image/jpeg", headers={"Cache-Control": "public, max-age=31536000, immutable"}
    )
