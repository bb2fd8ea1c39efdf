"""How key dates and remaining time are shown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from ..wording import get_plural_form as plural

MSK = timezone(timedelta(hours=3), "МСК")


def format_expiry(expiry_ms: int | None) -> str:
    if not expiry_ms:
        return "—"
    return datetime.fromtimestamp(expiry_ms / 1000, MSK).strftime("%d.%m.%Y %H:%M МСК")


def time_left(expiry_ms: int | None, now: datetime | None = None) -> str | None:
    """ "5 дней" / "3 часа"; None when expired."""
    if not expiry_ms:
        return None
    now = now or datetime.now(UTC)
    seconds = expiry_ms / 1000 - now.timestamp()
    if seconds <= 0:
        return None
    days, hours = int(seconds // 86400), int(seconds % 86400 // 3600)
    if days:
        return f"{days} {plural(days, 'день', 'дня', 'дней')}"
    hours = max(hours, 1)
    return f"{hours} {plural(hours, 'час', 'часа', 'часов')}"
