"""Is a chat one of this bot's users? What the Bot API gateway asks before a module sends there.

A user is a row of the ``users`` table (``tg_id``), as the core registers everyone who started
the bot. Positive answers are remembered (users are not deleted in normal operation; a deleted
one stays reachable until the host restarts); negative ones are asked again, so a user who
starts the bot a second later is reachable then.
"""

from __future__ import annotations

from collections import OrderedDict

from sqlalchemy import select

from database import db
from database.models import User

REMEMBERED = 100_000


class BotUsers:
    def __init__(self, limit: int = REMEMBERED) -> None:
        self.limit = limit
        self._known: OrderedDict[int, None] = OrderedDict()

    async def __call__(self, chat_id: int) -> bool:
        if chat_id in self._known:
            self._known.move_to_end(chat_id)
            return True
        async with db.async_session_maker() as session:
            found = await session.scalar(select(User.tg_id).where(User.tg_id == chat_id))
        if found is None:
            return False
        self._known[chat_id] = None
        while len(self._known) > self.limit:
            self._known.popitem(last=False)
        return True
