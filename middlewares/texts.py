"""What the core middlewares answer users they stop (user-facing: Russian)."""

BANNED = "🚫 Доступ к боту ограничен."
MAINTENANCE = "🛠 Бот на техническом обслуживании. Попробуйте позже."
THROTTLED = "Слишком часто, подождите немного."
UNAVAILABLE = "⏳ Бот временно недоступен. Попробуйте через минуту."
