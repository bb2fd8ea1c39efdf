"""In-memory world of the local Bot API: bot, users, chats, messages, updates, files.

Everything lives in one ``World`` object so that the HTTP handlers (bot side) and the
test driver (user side) see the same truth without any I/O.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class UserInfo:
    """A Telegram account: the bot itself or a simulated human."""

    id: int
    first_name: str
    username: str | None = None
    is_bot: bool = False
    last_name: str | None = None
    language_code: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        return data

    def private_chat(self) -> dict[str, Any]:
        """The private chat with this user, as the Bot API shows it (chat id == user id)."""
        data: dict[str, Any] = {"id": self.id, "type": "private", "first_name": self.first_name}
        if self.last_name:
            data["last_name"] = self.last_name
        if self.username:
            data["username"] = self.username
        return data


@dataclass
class StoredFile:
    """An uploaded (or URL-referenced) file; ``file_id`` is what bots reuse later."""

    file_id: str
    file_unique_id: str
    kind: str  # "photo", "document", "video" or "animation"
    data: bytes
    file_name: str | None = None
    mime_type: str | None = None
    url: str | None = None


@dataclass
class StoredMessage:
    """One message in a chat; fields mirror the Bot API ``Message`` object."""

    chat_id: int
    message_id: int
    sender: UserInfo
    chat: dict[str, Any]
    date: int
    text: str | None = None
    entities: list[dict[str, Any]] | None = None
    caption: str | None = None
    caption_entities: list[dict[str, Any]] | None = None
    parse_mode: str | None = None
    photo: StoredFile | None = None
    document: StoredFile | None = None
    video: StoredFile | None = None
    animation: StoredFile | None = None
    reply_markup: dict[str, Any] | None = None
    edit_date: int | None = None
    deleted: bool = False

    @property
    def edited(self) -> bool:
        return self.edit_date is not None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "message_id": self.message_id,
            "from": self.sender.to_dict(),
            "chat": dict(self.chat),
            "date": self.date,
        }
        if self.edit_date is not None:
            data["edit_date"] = self.edit_date
        if self.text is not None:
            data["text"] = self.text
            if self.entities:
                data["entities"] = self.entities
        if self.photo is not None:
            data["photo"] = [photo_size(self.photo)]
        if self.document is not None:
            data["document"] = document_dict(self.document)
        if self.video is not None:
            data["video"] = {**document_dict(self.video), "width": 640, "height": 360, "duration": 1}
        if self.animation is not None:
            # Telegram sends an animation with its document too (old clients read that).
            data["animation"] = {**document_dict(self.animation), "width": 320, "height": 320, "duration": 1}
            data["document"] = document_dict(self.animation)
        if self.caption is not None:
            data["caption"] = self.caption
            if self.caption_entities:
                data["caption_entities"] = self.caption_entities
        if self.reply_markup is not None:
            data["reply_markup"] = self.reply_markup
        return data


def photo_size(file: StoredFile) -> dict[str, Any]:
    # Real sizes would need an image decoder; a fixed size keeps the fake dependency-free.
    return {
        "file_id": file.file_id,
        "file_unique_id": file.file_unique_id,
        "width": 320,
        "height": 320,
        "file_size": len(file.data),
    }


def document_dict(file: StoredFile) -> dict[str, Any]:
    data: dict[str, Any] = {"file_id": file.file_id, "file_unique_id": file.file_unique_id, "file_size": len(file.data)}
    if file.file_name:
        data["file_name"] = file.file_name
    if file.mime_type:
        data["mime_type"] = file.mime_type
    return data


@dataclass
class CallbackQueryRecord:
    """A button press the bot may answer once via answerCallbackQuery."""

    id: str
    user_id: int
    chat_id: int
    message_id: int
    data: str
    answer: dict[str, Any] | None = None


@dataclass
class World:
    """The whole fake Telegram as seen by one bot token."""

    bot: UserInfo
    token: str
    users: dict[int, UserInfo] = field(default_factory=dict)
    messages: dict[int, dict[int, StoredMessage]] = field(default_factory=dict)
    # Bot-side activity per chat (message_id of each send/edit), so drivers can wait for replies.
    activity: dict[int, list[int]] = field(default_factory=dict)
    callback_queries: dict[str, CallbackQueryRecord] = field(default_factory=dict)
    updates: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, StoredFile] = field(default_factory=dict)
    commands: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    webhook: dict[str, Any] = field(default_factory=dict)
    # Channels the bot can check membership in: "@username" → member user ids (getChatMember).
    channels: dict[str, set[int]] = field(default_factory=dict)
    # Pinned message ids per chat, oldest first (the last one is the chat's pinned message).
    pinned: dict[int, list[int]] = field(default_factory=dict)
    closing: bool = False

    def __post_init__(self) -> None:
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._update_ids = itertools.count(1)
        self._query_ids = itertools.count(1)
        self._changed = asyncio.Event()

    # --- change notification -------------------------------------------------------------

    def notify(self) -> None:
        """Wake everyone waiting for a change (new update, new or edited message)."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_change(self, timeout: float) -> bool:
        """Wait until the next ``notify``; False on timeout."""
        event = self._changed
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def close(self) -> None:
        """Release long-polling requests so the server can shut down at once."""
        self.closing = True
        self.notify()

    # --- users and messages --------------------------------------------------------------

    def add_user(self, user: UserInfo) -> UserInfo:
        self.users[user.id] = user
        self.messages.setdefault(user.id, {})
        return user

    def find_chat(self, chat_id: int | str) -> UserInfo | None:
        """Private chats only: resolve an id or ``@username`` to the user of that chat."""
        if isinstance(chat_id, str):
            if chat_id.startswith("@"):
                return next((u for u in self.users.values() if u.username and u.username.lower() == chat_id[1:].lower()), None)
            try:
                chat_id = int(chat_id)
            except ValueError:
                return None
        return self.users.get(chat_id)

    def add_message(self, chat_id: int, sender: UserInfo, **fields: Any) -> StoredMessage:
        counter = self._message_ids.setdefault(chat_id, itertools.count(1))
        chat_user = self.users[chat_id]
        message = StoredMessage(
            chat_id=chat_id,
            message_id=next(counter),
            sender=sender,
            chat=chat_user.private_chat(),
            date=int(time.time()),
            **fields,
        )
        self.messages.setdefault(chat_id, {})[message.message_id] = message
        if sender.is_bot:
            self.touch(message)
        return message

    def get_message(self, chat_id: int, message_id: int) -> StoredMessage | None:
        message = self.messages.get(chat_id, {}).get(message_id)
        return None if message is None or message.deleted else message

    def touch(self, message: StoredMessage) -> None:
        """Record bot activity on ``message`` (sent or edited) and wake waiters."""
        self.activity.setdefault(message.chat_id, []).append(message.message_id)
        self.notify()

    # --- updates --------------------------------------------------------------------------

    def enqueue_update(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": next(self._update_ids), kind: payload}
        self.updates.append(update)
        self.notify()
        return update

    def confirm_updates(self, offset: int) -> None:
        """Telegram forgets every update with id < offset once getUpdates is called with it."""
        self.updates = [u for u in self.updates if u["update_id"] >= offset]

    def remove_update(self, update_id: int) -> None:
        """A webhook acknowledged this update: Telegram forgets it."""
        self.updates = [u for u in self.updates if u["update_id"] != update_id]

    def new_callback_query(self, user_id: int, message: StoredMessage, data: str) -> CallbackQueryRecord:
        query_id = f"{next(self._query_ids)}{secrets.randbelow(10**9):09d}"
        record = CallbackQueryRecord(
            id=query_id, user_id=user_id, chat_id=message.chat_id, message_id=message.message_id, data=data
        )
        self.callback_queries[query_id] = record
        return record

    # --- files ----------------------------------------------------------------------------

    def store_file(
        self, kind: str, data: bytes, *, file_name: str | None = None, mime_type: str | None = None, url: str | None = None
    ) -> StoredFile:
        file = StoredFile(
            file_id=f"{kind[:2].upper()}{secrets.token_urlsafe(24)}",
            file_unique_id=secrets.token_urlsafe(8),
            kind=kind,
            data=data,
            file_name=file_name,
            mime_type=mime_type,
            url=url,
        )
        self.files[file.file_id] = file
        return file
