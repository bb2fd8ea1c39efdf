"""The one error an operator sees from the installer."""

from __future__ import annotations


class InstallRefused(Exception):
    """Nothing was installed (or changed); ``str()`` says why and what to do, in Russian, naming the module."""
