"""The catalog's web app: pages (Russian, usable on a phone) and the JSON API."""

from .app import build_app

__all__ = ["build_app"]
