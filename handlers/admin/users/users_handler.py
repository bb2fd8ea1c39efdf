"""Upstream's former module name for the user editor (modules written before its split import it)."""

from .users_manage import process_user_search, router, user_card

__all__ = ("process_user_search", "router", "user_card")
