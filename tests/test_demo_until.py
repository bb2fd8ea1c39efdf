"""``host.demo._until``: the tour runs unless Ctrl-C comes first, with anyio's cancel scopes."""

from __future__ import annotations

import asyncio

import pytest

from host.demo import _until

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(20)]


async def test_work_that_finishes_returns_and_leaves_no_task() -> None:
    before = asyncio.all_tasks()
    done: list[str] = []

    async def work() -> None:
        done.append("tour")

    await _until(asyncio.Event(), work())
    assert done == ["tour"] and asyncio.all_tasks() == before


async def test_stop_cancels_the_work_where_it_waits() -> None:
    stop, waiting = asyncio.Event(), asyncio.Event()
    cancelled: list[bool] = []

    async def work() -> None:
        waiting.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def press_ctrl_c() -> None:
        await waiting.wait()
        stop.set()

    presser = asyncio.create_task(press_ctrl_c())
    await _until(stop, work())  # returns: stopping is not an error
    await presser
    assert cancelled == [True]


async def test_the_works_own_error_propagates_unchanged() -> None:
    async def work() -> None:
        raise LookupError("the tour broke")

    with pytest.raises(LookupError, match="the tour broke"):
        await _until(asyncio.Event(), work())


async def test_stop_set_before_the_start_runs_nothing_past_the_first_wait() -> None:
    stop = asyncio.Event()
    stop.set()
    reached: list[str] = []

    async def work() -> None:
        await asyncio.sleep(0)  # its first wait: cancelled here
        reached.append("past the first wait")

    await _until(stop, work())
    assert reached == []
