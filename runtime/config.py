"""Tunables of the module runtime, with the defaults the issue tracker agreed on."""

from __future__ import annotations

from dataclasses import dataclass, field

from hooks.constants import DEFAULT_HOOK_TIMEOUT
from ipc import DEFAULT_MAX_FRAME


@dataclass(frozen=True)
class RuntimeConfig:
    # Hooks
    hook_timeout: float = DEFAULT_HOOK_TIMEOUT
    # Per hook name. The notification cycle loads every key in each subscribed module and may
    # send many messages: upstream's 4 s would cut it short on a large installation.
    hook_timeouts: dict[str, float] = field(default_factory=lambda: {"periodic_notifications": 120.0})
    timeouts_before_restart: int = 3  # consecutive hook timeouts that restart a module
    # After a module's call of a hook times out, that hook is not asked of the module again for this
    # long: users' menus do not wait out the timeout once more per call (its buttons are missing
    # meanwhile). The first call after the rest goes through; 0 turns resting off.
    hook_rest_after_timeout: float = 10.0

    # Updates, webhooks and fast flows handled by modules
    update_timeout: float = 30.0  # a module handler that takes longer is abandoned; the user is told
    webhook_timeout: float = 10.0  # → 504
    webhook_max_body: int = 1024 * 1024  # → 413

    # Process lifecycle
    start_timeout: float = 30.0  # fork + import + handshake
    heartbeat_interval: float = 2.0
    heartbeat_timeout: float = 5.0
    stop_grace: float = 2.0  # after "shutdown", before SIGTERM
    term_grace: float = 1.0  # after SIGTERM, before SIGKILL

    # Crash handling
    backoff_initial: float = 0.05  # first restart within 100 ms
    backoff_max: float = 10.0
    crash_loop_max: int = 5  # this many crashes ...
    crash_loop_window: float = 60.0  # ... within this many seconds: quarantine

    # Channel
    max_frame: int = DEFAULT_MAX_FRAME
    log_lines_per_second: float = 50.0  # per module, burst of 4x that
    max_host_calls_in_flight: int = 64  # concurrent requests a module may have open on the host

    def timeout_for(self, hook: str) -> float:
        return self.hook_timeouts.get(hook, self.hook_timeout)

    def backoff(self, recent_crashes: int) -> float:
        return min(self.backoff_max, self.backoff_initial * 2 ** max(0, recent_crashes - 1))
