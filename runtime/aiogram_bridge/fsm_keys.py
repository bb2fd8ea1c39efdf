"""FSM storage keys on the wire: ``[bot_id, chat_id, user_id, thread_id, business_connection_id, destiny]``."""

from __future__ import annotations

from typing import Any

from aiogram.fsm.storage.base import StorageKey


def key_to_wire(key: StorageKey) -> list[Any]:
    return [key.bot_id, key.chat_id, key.user_id, key.thread_id, key.business_connection_id, key.destiny]


def key_from_wire(raw: Any) -> StorageKey:
    """Validate a key sent by the other side (it may be an untrusted module process)."""
    if not (isinstance(raw, list) and len(raw) == 6):
        raise ValueError("a storage key is [bot_id, chat_id, user_id, thread_id, business_connection_id, destiny]")
    bot_id, chat_id, user_id, thread_id, business_connection_id, destiny = raw
    if not all(type(v) is int for v in (bot_id, chat_id, user_id)):
        raise ValueError("storage key ids must be integers")
    if thread_id is not None and type(thread_id) is not int:
        raise ValueError("storage key thread_id must be an integer or null")
    if business_connection_id is not None and not isinstance(business_connection_id, str):
        raise ValueError("storage key business_connection_id must be a string or null")
    if not isinstance(destiny, str) or len(destiny) > 100:
        raise ValueError("storage key destiny must be a short string")
    return StorageKey(bot_id, chat_id, user_id, thread_id, business_connection_id, destiny)


# A module's FSM lives under its own destiny: the core's keys ("default") and other modules'
# are out of reach whatever key a module sends. Module names are identifiers (no ':'), so one
# module's prefix is never a prefix of another's.
MODULE_DESTINY_PREFIX = "solobot.module:"


def module_key(module: str, key: StorageKey) -> StorageKey:
    """Where the host keeps what ``module`` stores under ``key``: the same chat and user, its own destiny."""
    return StorageKey(
        key.bot_id,
        key.chat_id,
        key.user_id,
        key.thread_id,
        key.business_connection_id,
        f"{MODULE_DESTINY_PREFIX}{module}:{key.destiny}",
    )
