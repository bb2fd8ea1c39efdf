# The module the attacks aim at: private files in its data and temp folders, a private table,
# a profile button and a callback handler. After every attack the suite checks that it still
# answers and that none of its files or rows changed.
import os
from pathlib import Path

from aiogram import F, Router
from aiogram.types import CallbackQuery, InlineKeyboardButton
from sqlalchemy import text

from database import async_session_maker
from hooks.hooks import register_hook

router = Router()

SECRET = "victim-private-data\n"
BUTTON_TEXT = "victim ok"
ANSWER_TEXT = "victim answers"

# HOME and TMPDIR are this module's private folders (the sandbox sets them).
for folder in (os.environ["HOME"], os.environ["TMPDIR"]):
    Path(folder, "secret.txt").write_text(SECRET)


async def profile_menu(**kwargs):
    return {"after": "balance", "button": InlineKeyboardButton(text=BUTTON_TEXT, callback_data="victim|open")}


async def victim_info(**kwargs):
    """Seeds (once) and reads back the private table; says where the private files are."""
    async with async_session_maker() as session:
        await session.execute(text("CREATE TABLE IF NOT EXISTS victim_notes (id int PRIMARY KEY, body text)"))
        await session.execute(text("INSERT INTO victim_notes VALUES (1, 'victim note') ON CONFLICT DO NOTHING"))
        await session.commit()
        notes = [row[0] for row in await session.execute(text("SELECT body FROM victim_notes ORDER BY id"))]
    return {
        "pid": os.getpid(),
        "uid": os.getuid(),
        "home": os.environ["HOME"],
        "tmp": os.environ["TMPDIR"],
        "notes": notes,
        "files": [Path(folder, "secret.txt").read_text() for folder in (os.environ["HOME"], os.environ["TMPDIR"])],
    }


register_hook("profile_menu", profile_menu)
register_hook("victim_info", victim_info)


@router.callback_query(F.data == "victim|open")
async def open_victim(callback: CallbackQuery):
    await callback.answer(ANSWER_TEXT)
