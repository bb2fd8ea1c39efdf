"""The catalog's tables (its own metadata: nothing is shared with the bot's database) and engine."""
