"""Russian wording helpers upstream modules import from ``handlers.utils`` (plural forms, months,
user names); pure functions, no I/O."""

from __future__ import annotations

import html
import os
import re
from datetime import UTC, datetime, timedelta
from typing import Any

RUSSIAN_MONTHS = {
    "January": "января",
    "February": "февраля",
    "March": "марта",
    "April": "апреля",
    "May": "мая",
    "June": "июня",
    "July": "июля",
    "August": "августа",
    "September": "сентября",
    "October": "октября",
    "November": "ноября",
    "December": "декабря",
}
_MONTHS_BY_NUMBER = tuple(RUSSIAN_MONTHS.values())
_UNITS = {"KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}


def get_plural_form(num: int, form1: str, form2: str, form3: str) -> str:
    """``form1`` for 1, 21…; ``form2`` for 2–4, 22…; ``form3`` for 0, 5–20, 25…"""
    n = abs(num) % 100
    if 10 < n < 20:
        return form3
    return {1: form1, 2: form2, 3: form2, 4: form2}.get(n % 10, form3)


def _count(value: int, one: str, few: str, many: str) -> str:
    return f"0 {many}" if value <= 0 else f"{value} {get_plural_form(value, one, few, many)}"


def format_months(months: int) -> str:
    return _count(months, "месяц", "месяца", "месяцев")


def format_days(days: int) -> str:
    return _count(days, "день", "дня", "дней")


def format_hours(hours: int) -> str:
    return _count(hours, "час", "часа", "часов")


def format_minutes(minutes: int) -> str:
    return _count(minutes, "минута", "минуты", "минут")


def get_russian_month(date: datetime) -> str:
    """The month of ``date`` in the genitive ("января"), whatever the process locale."""
    return _MONTHS_BY_NUMBER[date.month - 1]


def format_discount_time_left(last_time: datetime, discount_hours: int) -> str:
    """What is left of a discount that started at ``last_time`` (naive UTC) and lasts ``discount_hours``."""
    left = last_time + timedelta(hours=discount_hours) - datetime.now(UTC).replace(tzinfo=None)
    seconds = int(left.total_seconds())
    if seconds <= 0:
        return "⏳ Время истекло"
    if seconds >= 86400:
        return format_days(seconds // 86400)
    if seconds >= 3600:
        return format_hours(seconds // 3600)
    return format_minutes(seconds // 60)


def get_username(user: Any) -> str:
    """HTML-safe display name of an aiogram ``User`` (full name, first name, @username, or a default)."""
    if getattr(user, "full_name", None):
        return html.escape(user.full_name)
    if getattr(user, "first_name", None):
        return html.escape(user.first_name)
    if getattr(user, "username", None):
        return "@" + html.escape(user.username)
    return "Пользователь"


def extract_user_data(user: Any) -> dict[str, Any]:
    """The ``users`` columns of an aiogram ``User``, as ``add_user`` takes them."""
    return {
        "tg_id": user.id,
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "language_code": user.language_code,
        "is_bot": user.is_bot,
    }


def convert_to_bytes(value: float, unit: str) -> int:
    """``value`` KB/MB/GB/TB (binary units) in bytes; an unknown unit counts as bytes."""
    return int(value * _UNITS.get(unit.upper(), 1))


def sanitize_key_name(key_name: str) -> str:
    """A key name as stored: lower case, only ``a-z 0-9 @ . _ -``."""
    return re.sub(r"[^a-z0-9@._-]", "", key_name.lower())


def get_media_type(media_path: str) -> str:
    """``photo`` / ``video`` / ``animation`` by the file's extension (``photo`` when unsure)."""
    ext = os.path.splitext((media_path or "").lower())[1]
    if ext in (".mp4", ".mov", ".avi"):
        return "video"
    if ext == ".gif":
        return "animation"
    return "photo"
