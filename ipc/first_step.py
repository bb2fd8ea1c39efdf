"""Run a new task's first step now instead of on the event loop's next turn.

``loop.create_task`` schedules the task's first step with ``call_soon``: the step runs on the
loop's *next* turn, after one more ``epoll_wait`` and a pass over the ready queue. For a request
whose handler answers without ever suspending (a hook returning buttons, a ping), that turn is
most of what the receiving side adds to a round trip. Python 3.12's eager tasks exist for this;
on 3.11 ``run_first_step`` gives the same: it takes the step the loop has just queued for
``task`` off the ready queue and runs it at once.

Why this is safe:

* the step is the loop's own handle for the task, run as the loop would run it: inside the real
  task (``asyncio.current_task()`` is the task, so ``asyncio.timeout`` and aiogram's code that
  looks at the current task work), in the task's own copy of the context variables, with the
  task's cancellation; only the moment moves, one turn earlier;
* steps cannot nest: when a task is already running (the caller is inside a task, not a loop
  callback), nothing is run and the task starts on the next turn as usual;
* it only runs the handle when that handle is the task's step (the last one queued, checked by
  identity); with another loop or task implementation it does nothing, and the task simply starts
  one turn later, as before;
* what a caller did before creating the next task still happens in the same order: each request
  starts in arrival order, and a request that suspends goes on as an ordinary task.

The price: the handler's code up to its first suspension runs inside the caller's callback (the
peer's frame reader). That is code the loop would have run on the very next turn anyway.
"""

from __future__ import annotations

import asyncio
from typing import Any


def run_first_step(loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any]) -> bool:
    """Run ``task``'s first step now if the loop allows it; True when it ran."""
    ready = getattr(loop, "_ready", None)  # BaseEventLoop's queue of handles for the next turn
    if not ready or asyncio.current_task(loop) is not None:
        return False
    handle = ready[-1]
    if getattr(getattr(handle, "_callback", None), "__self__", None) is not task:
        return False
    ready.pop()
    handle._run()  # the loop's own way to run a handle: in the task's context, errors to its handler
    return True
