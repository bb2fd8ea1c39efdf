"""Jinja2 pages (autoescape on) with what every page needs: the person, the CSRF token, the nav, flash messages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web
from jinja2 import Environment, PackageLoader, select_autoescape

from .keys import CATALOG, DEVELOPER, SESSION, USER

_env = Environment(
    loader=PackageLoader("catalog", "templates"), autoescape=select_autoescape(default=True), trim_blocks=True, lstrip_blocks=True
)
_env.filters["when"] = lambda value: value.strftime("%Y-%m-%d %H:%M UTC") if isinstance(value, datetime) else "—"
STATUS = {
    "pending": "на рассмотрении",
    "approved": "одобрена",
    "rejected": "отклонена",
    "published": "опубликован",
    "awaiting_moderation": "ждёт модератора",
    "yanked": "отозван",
}
_env.filters["status"] = lambda value: STATUS.get(value, value)


def flash(request: web.Request, message: str, kind: str = "ok") -> None:
    request[SESSION].setdefault("flash", []).append([kind, message])


def render(request: web.Request, template: str, *, status: int = 200, **values: Any) -> web.Response:
    catalog = request.app[CATALOG]
    session = request[SESSION]
    messages = session.pop("flash", [])
    user = request.get(USER)
    page = _env.get_template(template).render(
        user=user,
        moderator=catalog.is_moderator(user.tg_id if user else None),
        developer=request.get(DEVELOPER, False),
        csrf=session["csrf"],
        messages=messages,
        public_key=catalog.signer.public_key_text,
        **values,
    )
    return web.Response(text=page, status=status, content_type="text/html", charset="utf-8")


def message_page(request: web.Request, title: str, text: str, status: int) -> web.Response:
    return render(request, "message.html", status=status, title=title, text=text)
