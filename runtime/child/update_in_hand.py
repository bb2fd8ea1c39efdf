"""The update the current task of a module process is handling (``None`` outside one).

Named in what the module asks of the host while it handles it — ``run_hooks`` and Bot API calls
— so the host can vouch for that update's user, chat and message. The host only believes it for
an update it really forwarded to this module (``runtime.calls.module_hook_calls.UpdatesInFlight``).
"""

from __future__ import annotations

import contextvars

HANDLING_UPDATE: contextvars.ContextVar[int | None] = contextvars.ContextVar("handling_update", default=None)
