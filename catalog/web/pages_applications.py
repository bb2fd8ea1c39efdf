"""«Подать заявку»: the form and its outcome."""

from __future__ import annotations

from aiohttp import web

from ..applications.service import ApplicationForm, submit
from .guards import form_text, require_user
from .keys import CATALOG
from .render import flash, render

routes = web.RouteTableDef()
FIELDS = ("developer_name", "contact", "module_name", "summary", "repository_url", "what_it_does")


@routes.get("/apply")
async def apply_form(request: web.Request) -> web.Response:
    require_user(request)
    return render(request, "apply.html", form={}, problems={})


@routes.post("/apply")
async def apply_submit(request: web.Request) -> web.Response:
    user = require_user(request)
    values = {name: await form_text(request, name, 6000) for name in FIELDS}
    values["module_name"] = values["module_name"].strip()
    async with request.app[CATALOG].sessions.begin() as db:
        application, problems = await submit(db, user.tg_id, ApplicationForm(**values))
    if application is None:
        return render(request, "apply.html", status=422, form=values, problems=problems)
    flash(request, f"Заявка на модуль «{application.module_name}» отправлена. Статус — в личном кабинете.")
    raise web.HTTPSeeOther("/cabinet")
