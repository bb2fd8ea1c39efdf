"""A simulated human for tests: sends messages, presses buttons, watches the chat.

The driver writes straight into the ``World`` (as Telegram's servers would) and reads
the chat back the way a user's client would render it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .state import StoredMessage, UserInfo, World

Button = tuple[str, str | None]


@dataclass(frozen=True)
class MessageView:
    """One message as the user sees it; ``keyboard`` rows hold (text, callback_data or url)."""

    message_id: int
    from_bot: bool
    text: str | None
    caption: str | None
    keyboard: list[list[Button]]
    edited: bool
    photo_file_id: str | None
    document_file_id: str | None

    @property
    def buttons(self) -> list[str]:
        """Flat list of button texts, handy for assertions."""
        return [text for row in self.keyboard for text, _ in row]


def _view(message: StoredMessage) -> MessageView:
    rows = (message.reply_markup or {}).get("inline_keyboard") or []
    keyboard = [[(b.get("text", ""), b.get("callback_data", b.get("url"))) for b in row] for row in rows]
    return MessageView(
        message_id=message.message_id,
        from_bot=message.sender.is_bot,
        text=message.text,
        caption=message.caption,
        keyboard=keyboard,
        edited=message.edited,
        photo_file_id=message.photo.file_id if message.photo else None,
        document_file_id=message.document.file_id if message.document else None,
    )


class SimulatedUser:
    """Drive one private chat from the human side; create via ``LocalBotAPI.user``."""

    def __init__(self, world: World, info: UserInfo) -> None:
        self.world = world
        self.info = info
        self._cursor = len(world.activity.get(info.id, []))  # bot activity already handled by waits

    @property
    def id(self) -> int:
        return self.info.id

    # --- acting ---------------------------------------------------------------------------

    async def send(self, text: str) -> MessageView:
        """Send a text message; a leading ``/command`` gets a bot_command entity like real clients add."""
        entities = None
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            entities = [{"type": "bot_command", "offset": 0, "length": len(command.encode("utf-16-le")) // 2}]
        message = self.world.add_message(self.id, self.info, text=text, entities=entities)
        self._skip_seen()
        self.world.enqueue_update("message", message.to_dict())
        return _view(message)

    async def press(self, button: str, message_id: int | None = None) -> str:
        """Press an inline button by its text or callback_data; returns the callback query id.

        Searches the given message, or else the latest bot message whose keyboard has it.
        """
        for message in self._bot_messages(reverse=True):
            if message_id is not None and message.message_id != message_id:
                continue
            for row in (message.reply_markup or {}).get("inline_keyboard") or []:
                for b in row:
                    if button in (b.get("text"), b.get("callback_data")):
                        if "callback_data" not in b:
                            raise ValueError(f"button {button!r} has no callback_data and cannot be pressed")
                        record = self.world.new_callback_query(self.id, message, b["callback_data"])
                        self._skip_seen()
                        payload = {
                            "id": record.id,
                            "from": self.info.to_dict(),
                            "message": message.to_dict(),
                            "chat_instance": str(self.id),
                            "data": record.data,
                        }
                        self.world.enqueue_update("callback_query", payload)
                        return record.id
        raise LookupError(f"no bot message with a button {button!r} in chat {self.id}")

    # --- observing ------------------------------------------------------------------------

    @property
    def chat(self) -> list[MessageView]:
        """All visible messages of the chat, oldest first (deleted ones vanish)."""
        return [_view(m) for m in self.world.messages.get(self.id, {}).values() if not m.deleted]

    @property
    def last_message(self) -> MessageView | None:
        chat = self.chat
        return chat[-1] if chat else None

    @property
    def callback_answers(self) -> list[dict[str, Any]]:
        """What the bot said via answerCallbackQuery, in press order."""
        return [q.answer for q in self.world.callback_queries.values() if q.user_id == self.id and q.answer is not None]

    async def wait_for_reply(self, timeout: float = 5) -> MessageView:
        """Wait for the next bot send or edit in this chat since the user's last action."""

        def next_activity() -> MessageView | None:
            activity = self.world.activity.get(self.id, [])
            while self._cursor < len(activity):
                message_id = activity[self._cursor]
                self._cursor += 1
                message = self.world.get_message(self.id, message_id)
                if message is not None:
                    return _view(message)
            return None

        return await self.wait_until(lambda _user: next_activity(), timeout)

    async def wait_until(self, predicate: Callable[[SimulatedUser], Any], timeout: float = 5) -> Any:
        """Re-check ``predicate(user)`` on every world change; its truthy value is returned."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate(self)
            if value:
                return value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"condition not met within {timeout} s in chat {self.id}")
            # Short cap guards against a change slipping between the check and the wait.
            await self.world.wait_change(min(remaining, 0.1))

    # --- helpers --------------------------------------------------------------------------

    def _bot_messages(self, *, reverse: bool = False) -> list[StoredMessage]:
        messages = [m for m in self.world.messages.get(self.id, {}).values() if m.sender.is_bot and not m.deleted]
        return messages[::-1] if reverse else messages

    def _skip_seen(self) -> None:
        self._cursor = len(self.world.activity.get(self.id, []))
