"""Applications: submitted by a signed-in person, decided by a moderator; approval creates the module."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .. import audit, counters
from ..db.models import Application, Module, utcnow
from ..errors import Refused
from ..names import confusable_with, name_problem


@dataclass(frozen=True)
class ApplicationForm:
    developer_name: str
    contact: str
    module_name: str
    summary: str
    repository_url: str
    what_it_does: str


def form_problems(form: ApplicationForm) -> dict[str, str]:
    """Field → what to fix (Russian), for the form."""
    problems: dict[str, str] = {}
    if not 2 <= len(form.developer_name.strip()) <= 128:
        problems["developer_name"] = "Укажите имя разработчика (2–128 символов)."
    if not 3 <= len(form.contact.strip()) <= 256:
        problems["contact"] = "Укажите контакт: @username, e-mail или сайт (3–256 символов)."
    if problem := name_problem(form.module_name):
        problems["module_name"] = problem
    if not 10 <= len(form.summary.strip()) <= 300:
        problems["summary"] = "Краткое описание: 10–300 символов."
    if form.repository_url.strip():
        parts = urlsplit(form.repository_url.strip())
        if parts.scheme != "https" or not parts.netloc or len(form.repository_url) > 500:
            problems["repository_url"] = "Ссылка на репозиторий должна начинаться с https:// (или оставьте поле пустым)."
    if not 20 <= len(form.what_it_does.strip()) <= 5000:
        problems["what_it_does"] = "Опишите, что делает модуль (20–5000 символов)."
    return problems


async def taken_names(session: AsyncSession, *, except_application: int | None = None) -> list[str]:
    """Names of modules and of applications not rejected: a new name must not be confusable with any."""
    modules = list(await session.scalars(select(Module.name)))
    query = select(Application.module_name).where(Application.status != "rejected")
    if except_application is not None:
        query = query.where(Application.id != except_application)
    return sorted(set(modules) | set(await session.scalars(query)))


async def submit(session: AsyncSession, user_id: int, form: ApplicationForm) -> tuple[Application | None, dict[str, str]]:
    problems = form_problems(form)
    if not problems:
        similar = confusable_with(form.module_name, await taken_names(session))
        if similar == form.module_name:
            problems["module_name"] = f"Имя «{form.module_name}» уже занято."
        elif similar:
            problems["module_name"] = (
                f"Имя «{form.module_name}» легко спутать с «{similar}» (регистр, «_»/«-», одна буква): выберите другое."
            )
    if problems:
        return None, problems
    application = Application(
        user_id=user_id,
        developer_name=form.developer_name.strip(),
        contact=form.contact.strip(),
        module_name=form.module_name,
        summary=form.summary.strip(),
        repository_url=form.repository_url.strip() or None,
        what_it_does=form.what_it_does.strip(),
    )
    session.add(application)
    await session.flush()
    audit.record(session, user_id, "application.submit", f"application:{application.id}", module=form.module_name)
    return application, {}


async def pending(session: AsyncSession) -> list[Application]:
    return list(await session.scalars(select(Application).where(Application.status == "pending").order_by(Application.id)))


async def of_user(session: AsyncSession, user_id: int) -> list[Application]:
    return list(await session.scalars(select(Application).where(Application.user_id == user_id).order_by(Application.id.desc())))


async def decide(session: AsyncSession, application_id: int, moderator_id: int, approve: bool, reason: str) -> Application:
    application = await session.get(Application, application_id, with_for_update=True)
    if application is None or application.status != "pending":
        raise Refused("Заявка не найдена или уже рассмотрена.")
    reason = reason.strip()
    if not approve and not reason:
        raise Refused("Укажите причину отказа: разработчик её увидит.")
    if approve:
        similar = confusable_with(application.module_name, list(await session.scalars(select(Module.name))))
        if similar:
            raise Refused(f"Модуль с похожим именем «{similar}» уже есть: отклоните заявку с причиной.")
        session.add(Module(name=application.module_name, owner_id=application.user_id, summary=application.summary))
        await counters.bump(session, counters.INDEX)
    application.status = "approved" if approve else "rejected"
    application.reason = reason[:2000] or None
    application.decided_at, application.decided_by = utcnow(), moderator_id
    audit.record(
        session, moderator_id, "application.approve" if approve else "application.reject", f"application:{application.id}",
        module=application.module_name, reason=reason[:2000],
    )  # fmt: skip
    return application
