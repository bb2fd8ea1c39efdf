"""The admin's user editor (upstream's package shape: ``.keyboard``, ``.users_manage``, and the
older ``.users_handler`` name modules still import from)."""

from .users_manage import router

__all__ = ("router",)
