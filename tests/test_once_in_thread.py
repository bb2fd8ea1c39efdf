"""The mount-view probe's sharing (``runtime.supervision.once_in_thread``): one run, an owner, no leftovers."""

from __future__ import annotations

import asyncio
import threading

import pytest

from runtime.supervision.once_in_thread import OnceInThread

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(20)]


class BlockingCheck:
    """A blocking check that runs until released, counting its runs."""

    def __init__(self) -> None:
        self.runs = 0
        self.started = threading.Event()
        self.release = threading.Event()

    def __call__(self) -> str:
        self.runs += 1
        self.started.set()
        self.release.wait(10)
        return f"answer {self.runs}"


async def started(check: BlockingCheck) -> None:
    await asyncio.to_thread(check.started.wait, 10)
    check.started.clear()


async def test_concurrent_callers_share_one_run_and_only_the_first_is_told_it_ran_it() -> None:
    check = BlockingCheck()
    once = OnceInThread(check)
    callers = [asyncio.create_task(once.get()) for _ in range(3)]
    await started(check)
    check.release.set()
    assert await asyncio.gather(*callers) == [("answer 1", True), ("answer 1", False), ("answer 1", False)]
    assert await once.get() == ("answer 1", False) and check.runs == 1


async def test_a_caller_cancelled_mid_check_leaves_no_task_behind_and_the_next_caller_runs_it_again() -> None:
    check = BlockingCheck()
    once = OnceInThread(check)
    before = asyncio.all_tasks()
    first = asyncio.create_task(once.get())
    await started(check)
    first.cancel()
    check.release.set()  # the thread cannot be interrupted: the cancelled caller waits for it
    with pytest.raises(asyncio.CancelledError):
        await first
    assert asyncio.all_tasks() == before, "a task outlived the caller that started the check"
    assert not once.known
    assert await once.get() == ("answer 2", True)
