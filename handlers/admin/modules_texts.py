"""Texts of the admin's "🧩 Модули" screens (``handlers.admin.modules``)."""

from __future__ import annotations

BTN_MODULES = "🧩 Модули"
BTN_START = "▶️ Запустить"
BTN_STOP = "⏹ Остановить"
BTN_RESTART = "🔄 Перезапустить"
BTN_RELOAD = "♻️ Перезагрузить код"
BTN_REFRESH = "🔃 Обновить"
BTN_TO_LIST = "« К списку"
BTN_PREV = "◀️"
BTN_NEXT = "▶️"

STATE_EMOJI = {
    "running": "🟢",
    "starting": "🟡",
    "crashed": "🟡",
    "failed": "🔴",
    "quarantined": "🔴",
    "stopped": "⚪",
}
UNKNOWN_STATE_EMOJI = "⚫"
STATE_NAMES = {
    "running": "работает",
    "starting": "запускается",
    "crashed": "упал, будет перезапущен",
    "failed": "не загрузился",
    "quarantined": "на карантине (падал слишком часто)",
    "stopped": "остановлен",
}

LIST = "<b>🧩 Модули</b>\n\nВсего: <b>{total}</b> · работают: <b>{running}</b>\nСтраница {page} из {pages}"
LIST_EMPTY = "<b>🧩 Модули</b>\n\nВ папке модулей пока ничего нет."
NO_RUNTIME = "Модульная среда не запущена."
NOT_FOUND = "Модуль не найден."
TOO_LONG_NAME = "{emoji} {name} — имя слишком длинное для кнопки"

CARD = (
    "<b>🧩 Модуль {name}</b>\n\n"
    "Состояние: {emoji} <b>{state}</b> ({state_name})\n"
    "Версия: <b>{version}</b>\n"
    "PID: <code>{pid}</code>\n"
    "Время работы: {uptime}\n"
    "Память: RSS {rss} · собственная (USS) {uss}\n"
    "Перезапусков: <b>{restarts}</b>\n"
    "Хуки: вызовов <b>{calls}</b>, ошибок <b>{errors}</b>, тайм-аутов <b>{timeouts}</b>\n"
    "Задержка хуков: p50 {p50} · p99 {p99}"
)
CARD_CGROUP = "\nПроцессы модуля: {layer}"
CARD_RESTING = "\n⏸ Не вызываются после тайм-аута (пауза): {hooks}"
CARD_SANDBOX = "\nПесочница: {layers}"
CARD_LAST_ERROR = "\n\n<b>Последняя ошибка:</b>\n<pre>{error}</pre>"
DASH = "—"
MEGABYTES = "{value:.1f} МБ"
MILLISECONDS = "{value:.1f} мс"
UPTIME_SECONDS = "{s} с"
UPTIME_MINUTES = "{m} мин {s} с"
UPTIME_HOURS = "{h} ч {m} мин"
UPTIME_DAYS = "{d} д {h} ч"

DONE = {
    "start": "▶️ Модуль запущен",
    "stop": "⏹ Модуль остановлен",
    "restart": "🔄 Модуль перезапущен",
    "reload": "♻️ Код перезагружен",
}
FAILED = "❌ Не удалось: {error}"
RELOAD_FAILED = "❌ Новый код не загрузился, работает прежняя версия: {error}"
