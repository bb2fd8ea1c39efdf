"""What the host tells a Telegram user when a module cannot answer (Russian, like the bot)."""

MODULE_UNAVAILABLE = "⚠️ Этот раздел сейчас недоступен. Попробуйте ещё раз через минуту."
