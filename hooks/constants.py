"""Hook defaults (upstream keeps ``DEFAULT_HOOK_TIMEOUT`` here too)."""

DEFAULT_HOOK_TIMEOUT = 4.0
