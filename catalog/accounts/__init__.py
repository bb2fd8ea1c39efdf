"""Accounts by Telegram identity: the Login Widget, one-time login links confirmed in the bot, sessions, API tokens."""
