"""File templates of a new module (``string.Template``: ``$name``, ``$class_name``; ``{…}`` stay for str.format)."""

from __future__ import annotations

INIT = """\
__all__ = ("router",)
from .router import router
"""

INIT_MODELS = """\
# Import the models at package level so that the module's tables are created when it starts.
from . import models  # noqa: F401
"""

ROUTER = """\
# $name: a button in the profile (after "balance") that opens the module's screen.
from aiogram import F, Router
from aiogram.types import CallbackQuery, InlineKeyboardButton
from aiogram.utils.keyboard import InlineKeyboardBuilder

from handlers.utils import edit_or_send_message
from hooks.hooks import register_hook

from . import settings, texts

router = Router()

CALLBACK_OPEN = "$name|open"


async def profile_menu_hook(**kwargs):
    # Hooks get keyword arguments (chat_id, admin, session…): accept **kwargs, read what you need by name.
    if not settings.ENABLE_BUTTON:
        return None
    return {"after": "balance", "button": InlineKeyboardButton(text=texts.BTN_OPEN, callback_data=CALLBACK_OPEN)}


register_hook("profile_menu", profile_menu_hook)


@router.callback_query(F.data == CALLBACK_OPEN)
async def open_screen(callback: CallbackQuery, session):
    kb = InlineKeyboardBuilder()
    kb.row(InlineKeyboardButton(text=texts.BTN_BACK, callback_data="profile"))  # back to the profile screen
    await edit_or_send_message(callback.message, texts.SCREEN, reply_markup=kb.as_markup())
    await callback.answer()
"""

ROUTER_DB = """\
# $name: a button in the profile (after "balance") that opens the module's screen, which remembers
# when the user first opened it (a table of the module's own, see models.py and db.py).
from aiogram import F, Router
from aiogram.types import CallbackQuery, InlineKeyboardButton
from aiogram.utils.keyboard import InlineKeyboardBuilder

from handlers.utils import edit_or_send_message
from hooks.hooks import register_hook

from . import settings, texts
from .db import get_first_visit, record_visit

router = Router()

CALLBACK_OPEN = "$name|open"


async def profile_menu_hook(**kwargs):
    # Hooks get keyword arguments (chat_id, admin, session…): accept **kwargs, read what you need by name.
    if not settings.ENABLE_BUTTON:
        return None
    return {"after": "balance", "button": InlineKeyboardButton(text=texts.BTN_OPEN, callback_data=CALLBACK_OPEN)}


register_hook("profile_menu", profile_menu_hook)


@router.callback_query(F.data == CALLBACK_OPEN)
async def open_screen(callback: CallbackQuery, session):
    tg_id = callback.from_user.id
    await record_visit(session, tg_id)
    first_seen = await get_first_visit(session, tg_id)
    text = texts.SCREEN
    if first_seen is not None:
        text += texts.FIRST_VISIT.format(date=first_seen.strftime(settings.DATE_FORMAT))
    kb = InlineKeyboardBuilder()
    kb.row(InlineKeyboardButton(text=texts.BTN_BACK, callback_data="profile"))  # back to the profile screen
    await edit_or_send_message(callback.message, text, reply_markup=kb.as_markup())
    await callback.answer()
"""

TEXTS = """\
# Every text the module shows to users.
BTN_OPEN = "✨ Новый раздел"
BTN_BACK = "⬅️ Назад"
SCREEN = (
    "<b>✨ Новый раздел</b>\\n\\n"
    "Это модуль «$name». Тексты меняются в texts.py, настройки — в settings.py."
)
"""

TEXTS_DB = """\
FIRST_VISIT = "\\n\\nВы впервые открыли этот раздел {date} (UTC)."
"""

SETTINGS = """\
# Show the module's button in the profile.
ENABLE_BUTTON = True
"""

SETTINGS_DB = """\
# How the first-visit date is shown (strftime format; times are UTC).
DATE_FORMAT = "%d.%m.%Y %H:%M"
"""

MODELS = '''\
from datetime import datetime, timezone

from sqlalchemy import BigInteger, Column, DateTime, ForeignKey

from database.models import Base


def utcnow() -> datetime:
    """Naive UTC: the bot's DateTime columns are TIMESTAMP WITHOUT TIME ZONE."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


class ${class_name}Visit(Base):
    __tablename__ = "${name}_visits"

    tg_id = Column(BigInteger, ForeignKey("users.tg_id", ondelete="CASCADE"), primary_key=True)
    first_seen_at = Column(DateTime, default=utcnow, nullable=False)
'''

# The visits table's foreign key to users(tg_id) needs the operator's grant (secure by default).
MODULE_TOML_DB = """\
[request]
references_users = true
reason.references_users = "таблица модуля ссылается на пользователя (ForeignKey users.tg_id)"
"""

DB = '''\
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from .models import ${class_name}Visit, utcnow


async def get_first_visit(session: AsyncSession, tg_id: int) -> datetime | None:
    res = await session.execute(select(${class_name}Visit.first_seen_at).where(${class_name}Visit.tg_id == tg_id))
    return res.scalar_one_or_none()


async def record_visit(session: AsyncSession, tg_id: int) -> None:
    """Remember the first visit; later visits change nothing (two presses racing are fine too)."""
    stmt = (
        insert(${class_name}Visit)
        .values(tg_id=tg_id, first_seen_at=utcnow())
        .on_conflict_do_nothing(index_elements=[${class_name}Visit.tg_id])
    )
    await session.execute(stmt)
    await session.commit()
'''

VERSION = "0.1.0\n"
