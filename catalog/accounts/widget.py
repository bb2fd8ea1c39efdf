"""The Telegram Login Widget's answer, checked as Telegram documents it.

``hash`` = HMAC-SHA256 over the sorted ``key=value`` lines of the other fields, keyed with
SHA-256 of the bot token; compared with ``hmac.compare_digest``; ``auth_date`` no older than a day.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass

MAX_AGE = 24 * 3600
FIELDS = {"id", "first_name", "last_name", "username", "photo_url", "auth_date", "hash"}


class WidgetError(ValueError):
    pass


@dataclass(frozen=True)
class TelegramIdentity:
    tg_id: int
    first_name: str
    username: str | None


def widget_hash(fields: Mapping[str, str], bot_token: str) -> str:
    check = "\n".join(f"{k}={fields[k]}" for k in sorted(fields) if k != "hash")
    secret = hashlib.sha256(bot_token.encode()).digest()
    return hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()


def check_widget(params: Mapping[str, str], bot_token: str, now: float | None = None) -> TelegramIdentity:
    fields = {k: v for k, v in params.items() if k in FIELDS}
    given = fields.get("hash", "")
    if not given or not hmac.compare_digest(widget_hash(fields, bot_token), given):
        raise WidgetError("Подпись Telegram не сошлась: войдите заново.")
    try:
        auth_date = int(fields.get("auth_date", ""))
        tg_id = int(fields.get("id", ""))
    except ValueError:
        raise WidgetError("Ответ Telegram неполный: войдите заново.") from None
    if (time.time() if now is None else now) - auth_date > MAX_AGE:
        raise WidgetError("Вход устарел (больше суток): войдите заново.")
    return TelegramIdentity(tg_id, fields.get("first_name", "")[:256], (fields.get("username") or None))
