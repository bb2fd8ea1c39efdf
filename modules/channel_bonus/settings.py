# Channel users must join to get the bonus (@username or numeric id), and its public link.
CHANNEL_ID = "@solobot_news"
CHANNEL_URL = "https://t.me/solobot_news"
# Bonus credited once per user, in roubles.
BONUS_RUB = 50
