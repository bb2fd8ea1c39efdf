NEWS_URL = "https://t.me/solobot_news"
