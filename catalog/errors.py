"""The two ways a catalog action fails: the object is not the person's (or does not exist), or the action is refused."""

from __future__ import annotations


class NotFound(LookupError):
    """No such object for this person: another developer's module looks exactly like a missing one."""


class Refused(ValueError):
    """The action is not allowed or the input is wrong; the message (Russian) says what to fix."""
