BTN_HELLO = "👋 Привет"
BTN_BACK = "⬅️ Назад"
HELLO = "Привет из модуля!"
