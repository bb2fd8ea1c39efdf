"""Periodic notifications: the core's expiry reminders and the modules' ``periodic_notifications``."""
