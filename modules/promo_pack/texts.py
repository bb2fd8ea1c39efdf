BTN_PROMO = "🎁 Промокоды"
BTN_NEWS = "📰 Новости"
BTN_STATS = "📊 Статистика промо"
