"""Typed aiohttp app keys."""

from __future__ import annotations

from aiohttp import web

from ..context import CatalogContext

CATALOG = web.AppKey("catalog", CatalogContext)
SESSION = web.RequestKey("session", dict)
USER = web.RequestKey("user", object)  # Account | None
DEVELOPER = web.RequestKey("developer", bool)  # the signed-in person owns a module: the nav shows «Управление модулями»
