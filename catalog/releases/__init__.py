"""Modules and their releases: upload (checked, signed, immutable), moderation, yank, description and image."""
