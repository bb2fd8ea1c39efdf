"""A module with router lifecycle observers, written as upstream modules write them.

On start it tells the admins (with the keyword arguments aiogram gave it) and starts a
background task; on shutdown it stops the task and says goodbye (with whether the task ran).
A ``FAIL_STARTUP`` file in its folder makes the startup raise, as a broken configuration would.
"""

import asyncio
import os

from aiogram import Bot, Dispatcher, Router

from config import ADMIN_ID

router = Router(name="panels_lifecycle")
child = Router(name="panels_lifecycle_child")
router.include_router(child)
_ticker: asyncio.Task | None = None
ticks = 0


async def _tick() -> None:
    global ticks
    while True:
        ticks += 1
        await asyncio.sleep(0.05)


@router.startup()
async def on_startup(bot: Bot, dispatcher: Dispatcher, bots: list, router: Router, **kwargs) -> None:
    global _ticker
    if os.path.exists(os.path.join(os.path.dirname(__file__), "FAIL_STARTUP")):
        raise RuntimeError("PANEL_URL is not configured")
    _ticker = asyncio.create_task(_tick())
    names = ",".join(sorted(["bot", "dispatcher", "bots", "router", *kwargs]))
    same = bot is bots[0] and isinstance(dispatcher, Dispatcher)
    for admin in ADMIN_ID:
        await bot.send_message(admin, f"lifecycle: started pid={os.getpid()} kwargs={names} same_bot={same}")


@child.startup()
async def on_child_startup(router: Router, **kwargs) -> None:
    # Sub-routers get the observer call too, with ``router`` set to themselves (aiogram's rule).
    assert router.name == "panels_lifecycle_child"


@router.shutdown()
async def on_shutdown(bot: Bot, **kwargs) -> None:
    if _ticker is not None:
        _ticker.cancel()
    for admin in ADMIN_ID:
        await bot.send_message(admin, f"lifecycle: stopped pid={os.getpid()} ticked={ticks > 0}")
