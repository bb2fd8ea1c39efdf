# The module the attacks aim at: private files in its data and temp folders, a private table,
# a profile button and a callback handler. After every attack the suite checks that it still
# answers and that none of its files or rows changed.
import gc
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
FSM_USER = 4242  # the driver's seeded user: the victim is in a conversation with them
FSM_STATE = "VictimFlow:secret_step"
FSM_DATA = {"victim_fsm": "victim-private-fsm"}

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
        "fsm": await _fsm_conversation(),
        "pid": os.getpid(),
        "uid": os.getuid(),
        "home": os.environ["HOME"],
        "tmp": os.environ["TMPDIR"],
        "notes": notes,
        "files": [Path(folder, "secret.txt").read_text() for folder in (os.environ["HOME"], os.environ["TMPDIR"])],
    }


async def _fsm_conversation():
    """Seeds (once) and reads back the victim's FSM state and data for FSM_USER, as a handler's FSMContext would."""
    from aiogram.fsm.context import FSMContext
    from aiogram.fsm.storage.base import StorageKey

    from bot import bot
    from runtime.child.host_fsm_storage import HostFSMStorage

    storage = next(obj for obj in gc.get_objects() if isinstance(obj, HostFSMStorage))
    state = FSMContext(storage, StorageKey(bot.id, FSM_USER, FSM_USER))
    if await state.get_state() is None:
        await state.set_state(FSM_STATE)
        await state.set_data(FSM_DATA)
    return [await state.get_state(), await state.get_data()]


async def victim_admin_secret(admin=False, **kwargs):
    """A module's own hook with an admin-only answer (as upstream's admin buttons are)."""
    return "victim-admin-secret" if admin is True else "victim-public"


async def payment_success(user_id=None, amount=None, **kwargs):
    return f"victim credited {amount} to {user_id}"


async def victim_telegram_echo(message=None, callback=None, user=None, extra=(), **kwargs):
    """What Telegram objects another module's run_hooks reached this module with."""
    return {
        "message_from": getattr(getattr(message, "from_user", None), "id", None),
        "callback_data": getattr(callback, "data", None),
        "user": getattr(user, "id", None),
        "extra": len(extra),
    }


register_hook("victim_admin_secret", victim_admin_secret)
register_hook("victim_telegram_echo", victim_telegram_echo)
register_hook("payment_success", payment_success)
register_hook("profile_menu", profile_menu)
register_hook("victim_info", victim_info)


@router.callback_query(F.data == "victim|open")
async def open_victim(callback: CallbackQuery):
    await callback.answer(ANSWER_TEXT)
