BTN_TOP = "🏆 Топ пригласивших"
TITLE = "<b>🏆 Топ пригласивших</b>\n"
ENTRY = "{place}. <code>{masked_id}</code> — {count} рефералов\n"
NO_DATA = "Пока нет участников, подходящих под условия."
