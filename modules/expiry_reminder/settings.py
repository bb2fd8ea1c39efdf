# Remind this many hours before a key expires.
REMIND_BEFORE_HOURS = 72
# At most this many reminders per notification cycle (Telegram limits bots to ~30 messages/s).
MAX_PER_CYCLE = 500
