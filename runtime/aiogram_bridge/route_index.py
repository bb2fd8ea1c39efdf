"""Which modules may handle an update, decided in the host without asking them.

A module process reports, per event type, one matcher per handler of its router (see
``runtime.child.route_filters``). This file validates that report (it comes from an untrusted
process) and answers ``may_match`` for an event: a matcher passes when every constraint it has
passes; a module may match when any of its matchers passes. Unknown constraint kinds are
rejected at the handshake, so a module cannot make itself "never match" by mistake, and a
module can only ever lose updates it asked not to get.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ipc import ProtocolError

from .callback_ownership import CallbackClaims

MAX_EVENT_TYPES = 40
MAX_MATCHERS = 1_000
MAX_ALTERNATIVES = 500
MAX_VALUE = 4_096
KINDS = ("data", "text", "command", "state")


@dataclass(frozen=True, slots=True)
class _Strings:
    """Alternatives on one string attribute: exact values and prefixes."""

    exact: frozenset[str]
    prefixes: tuple[str, ...]

    def accepts(self, value: str | None) -> bool:
        if value is None:
            return False
        return value in self.exact or (bool(self.prefixes) and value.startswith(self.prefixes))


@dataclass(frozen=True, slots=True)
class _Matcher:
    data: _Strings | None
    text: _Strings | None
    command: _Strings | None
    states: frozenset[str | None] | None

    def accepts(self, event: Any, state: str | None, core_state: str | None) -> bool:
        if self.states is not None and not _state_accepted(self.states, state, core_state):
            return False
        if self.data is not None and not self.data.accepts(getattr(event, "data", None)):
            return False
        if self.text is not None and not self.text.accepts(getattr(event, "text", None)):
            return False
        if self.command is not None:
            return self.command.accepts(getattr(event, "text", None) or getattr(event, "caption", None))
        return True


def _state_accepted(states: frozenset[str | None], state: str | None, core_state: str | None) -> bool:
    """``state`` is the module's own; "no state" also needs the core to be in none.

    Module routers are asked before the core's (upstream's order): a module's handler for "no
    state" (``StateFilter(None)``) must not take the text a user types into a core screen
    waiting for it, as it would not upstream where there is one state per user.
    """
    if state is None:
        return None in states and core_state is None
    return state in states


class RouteIndex:
    def __init__(self, matchers: dict[str, tuple[_Matcher, ...]]) -> None:
        self._matchers = matchers
        # Event types where some handler waits for a state: only then does routing read the module's.
        self._stateful = frozenset(t for t, ms in matchers.items() if any(m.states is not None for m in ms))
        self._claims: CallbackClaims | None = None

    @classmethod
    def from_wire(cls, raw: Any) -> RouteIndex:
        if not isinstance(raw, dict) or len(raw) > MAX_EVENT_TYPES:
            raise ProtocolError("handshake 'routes' must be a map of event type to matchers")
        compiled: dict[str, tuple[_Matcher, ...]] = {}
        for event_type, matchers in raw.items():
            if not (isinstance(event_type, str) and event_type.isidentifier()):
                raise ProtocolError(f"handshake 'routes': bad event type {event_type!r:.60}")
            if not isinstance(matchers, list) or len(matchers) > MAX_MATCHERS:
                raise ProtocolError(f"handshake 'routes[{event_type}]' must be a list of at most {MAX_MATCHERS} matchers")
            compiled[event_type] = tuple(_compile(event_type, m) for m in matchers)
        return cls(compiled)

    @property
    def event_types(self) -> frozenset[str]:
        return frozenset(self._matchers)

    def callback_claims(self) -> CallbackClaims:
        """The callback data this router's handlers name (exact values and prefixes; catch-alls name none)."""
        if self._claims is None:
            exact: set[str] = set()
            prefixes: list[str] = []
            for matcher in self._matchers.get("callback_query", ()):
                if matcher.data is not None:
                    exact |= matcher.data.exact
                    prefixes.extend(matcher.data.prefixes)
            self._claims = CallbackClaims(frozenset(exact), tuple(dict.fromkeys(prefixes)))
        return self._claims

    def handles(self, event_type: str) -> bool:
        return event_type in self._matchers

    def uses_state(self, event_type: str) -> bool:
        return event_type in self._stateful

    def may_match(self, event_type: str, event: Any, state: str | None, core_state: str | None = None) -> bool:
        """``state``: the module's own FSM state for the event's chat and user; ``core_state``: the core's."""
        matchers = self._matchers.get(event_type)
        if not matchers:
            return False
        return any(m.accepts(event, state, core_state) for m in matchers)


def _compile(event_type: str, raw: Any) -> _Matcher:
    where = f"handshake 'routes[{event_type}]'"
    if not isinstance(raw, dict) or any(k not in KINDS for k in raw):
        raise ProtocolError(f"{where}: a matcher is a map with keys among {', '.join(KINDS)}")
    states = raw.get("state")
    if states is not None:
        if not isinstance(states, list) or len(states) > MAX_ALTERNATIVES:
            raise ProtocolError(f"{where}: 'state' must be a list of state names")
        if not all(s is None or (isinstance(s, str) and len(s) <= MAX_VALUE) for s in states):
            raise ProtocolError(f"{where}: 'state' must hold strings or null")
    return _Matcher(
        data=_strings(where, raw.get("data")),
        text=_strings(where, raw.get("text")),
        command=_strings(where, raw.get("command")),
        states=frozenset(states) if states is not None else None,
    )


def _strings(where: str, raw: Any) -> _Strings | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or len(raw) > MAX_ALTERNATIVES:
        raise ProtocolError(f"{where}: alternatives must be a list of at most {MAX_ALTERNATIVES}")
    exact: set[str] = set()
    prefixes: list[str] = []
    for item in raw:
        if not (isinstance(item, list) and len(item) == 2 and item[0] in ("eq", "prefix") and isinstance(item[1], str)):
            raise ProtocolError(f"{where}: an alternative is ['eq' or 'prefix', text]")
        if len(item[1]) > MAX_VALUE:
            raise ProtocolError(f"{where}: an alternative is longer than {MAX_VALUE} characters")
        (exact.add if item[0] == "eq" else prefixes.append)(item[1])
    return _Strings(frozenset(exact), tuple(prefixes))
