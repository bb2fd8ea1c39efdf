"""Button texts of the core menus (upstream names: modules import ``BACK`` and ``MAIN_MENU``)."""

BACK = "⬅️ Назад"
MAIN_MENU = "🏠 Главное меню"

PROFILE = "👤 Личный кабинет"
TRIAL_SUB = "🎁 Пробная подписка"
ABOUT_VPN = "ℹ️ О сервисе"
SUPPORT = "🆘 Поддержка"
CHANNEL = "📢 Наш канал"

MY_SUBS = "📋 Мои подписки"
BALANCE = "💰 Баланс"
INVITE = "👥 Пригласить друга"
INSTRUCTIONS = "📘 Инструкции"
ADMIN_PANEL = "🔧 Администратор"

TOP_UP_BALANCE = "➕ Пополнить баланс"
CONNECT_TV = "📺 Подключить TV"
RENEW_KEY = "⏳ Продлить"
VIEW_KEY = "🔑 Открыть подписку"
OPEN_SUBSCRIPTION = "🔗 Открыть ссылку"
