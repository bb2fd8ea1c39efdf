"""Licences by Telegram user ID: Ed25519-signed tokens the bot verifies offline, and a signed revocation list."""
