"""``build_app(catalog)``: the aiohttp application of the catalog (pages, files, API)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from ..context import CatalogContext
from . import api, pages_accounts, pages_applications, pages_manage, pages_moderation, pages_public
from .keys import CATALOG
from .middlewares import csrf_middleware, headers_middleware, session_middleware

STATIC = Path(__file__).resolve().parent.parent / "static"


def build_app(catalog: CatalogContext) -> web.Application:
    limits = catalog.settings.limits
    app = web.Application(
        middlewares=[session_middleware, headers_middleware, csrf_middleware],
        client_max_size=max(limits.archive_bytes, limits.image_bytes) + 1024 * 1024,
    )
    app[CATALOG] = catalog
    for table in (
        pages_public.routes,
        pages_accounts.routes,
        pages_applications.routes,
        pages_manage.routes,
        pages_moderation.routes,
        api.routes,
    ):
        app.router.add_routes(table)
    app.router.add_static("/static", STATIC)
    return app
