"""Admin statistics: core totals plus one block per ``admin_stats`` hook result."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import CallbackQuery
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import texts
from handlers.queries import core_stats, utcnow
from handlers.utils import answer_callback, edit_or_send_message
from hooks.hooks import run_hooks

from .panel.keyboard import AdminPanelCallback, build_admin_back_kb

router = Router(name="core_admin_stats")


@router.callback_query(AdminPanelCallback.filter(F.action == "stats"))
async def stats(callback: CallbackQuery, session: AsyncSession, admin: bool = False) -> None:
    if not admin:
        await answer_callback(callback, texts.NOT_ADMIN, show_alert=True)
        return
    await answer_callback(callback)
    blocks = [texts.ADMIN_STATS.format(**await core_stats(session))]
    blocks += [str(result) for result in await run_hooks("admin_stats", session=session, now=utcnow())]
    text = "\n\n".join(blocks)
    if len(text) > 4096:
        text = text[:4090] + "…"
    await edit_or_send_message(callback.message, text, reply_markup=build_admin_back_kb(), force_text=True)
