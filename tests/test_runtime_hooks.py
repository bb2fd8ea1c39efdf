"""run_hooks across real module processes: order, errors, timeouts, garbage, nesting, logs."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from pathlib import Path

import pytest
from aiogram.types import InlineKeyboardButton
from aiogram.utils.keyboard import InlineKeyboardBuilder

from cli.status_table import details
from hooks.hook_buttons import insert_hook_buttons
from hooks.hooks import run_hooks

from .conftest import ModuleFolder, callback_rows, pids, wait_until

pytestmark = pytest.mark.anyio


def profile_keyboard() -> InlineKeyboardBuilder:
    builder = InlineKeyboardBuilder()
    for data in ["view_keys", "balance", "invite", "instructions", "start"]:
        builder.row(InlineKeyboardButton(text=data, callback_data=data))
    return builder


async def test_example_modules_build_the_profile_keyboard_in_load_order(make_runtime, tmp_path: Path) -> None:
    from tests.solobot_harness import copy_modules

    # The button-protocol examples (the others need a database: tests/test_e2e_modules.py).
    folder = copy_modules(["happ_tv", "hello_world", "legacy_cleanup", "promo_pack"], tmp_path / "modules")
    async with make_runtime(folder) as rt:
        assert {s["name"]: s["state"] for s in rt.status()} == {
            "happ_tv": "running",
            "hello_world": "running",
            "legacy_cleanup": "running",
            "promo_pack": "running",
        }
        # Core code calls the upstream function; the runtime is its dispatcher.
        results = await run_hooks("profile_menu", chat_id=1, admin=True, require_enabled=True)
        assert results.sources == ["hello_world", "legacy_cleanup", "promo_pack"]
        keyboard = profile_keyboard()
        keyboard.row(InlineKeyboardButton(text="old", callback_data="legacy_promo"))
        rows = callback_rows(insert_hook_buttons(keyboard, results))
        assert rows == [
            ["https://t.me/solobot_news"],  # promo_pack: insert_at 0
            ["view_keys"],
            ["balance"],
            ["hello|open"],  # hello_world: after balance
            ["invite"],
            ["promo|list"],  # promo_pack: after invite
            ["instructions"],
            ["start"],
            ["promo|stats"],  # promo_pack: appended, admins only (nested list)
        ]  # legacy_cleanup removed "legacy_promo"

        card = InlineKeyboardBuilder()
        card.row(InlineKeyboardButton(text="TV", callback_data="connect_tv|k1"))
        card.row(InlineKeyboardButton(text="renew", callback_data="renew_key|k1"))
        card_results = await rt.run_hooks("view_key_menu", key_name="k1")
        assert callback_rows(insert_hook_buttons(card, card_results)) == [["renew_key|k1"], ["happ_tv|k1"]]


async def test_fan_out_is_concurrent_and_ordered(modules: ModuleFolder, make_runtime, tmp_path: Path) -> None:
    """Each hook answers only once all three calls are in flight, so calls made one after another
    never complete (the first waits for the others until its timeout); they answer in reverse
    load order (c, then b, then a) and the results still come in load order (a, b, c)."""
    meeting = tmp_path / "meeting"
    meeting.mkdir()
    names = ["a_first", "b_second", "c_third"]
    for name, waits_for in zip(names, [*names[1:], None], strict=True):
        modules.add(
            name,
            f"""
            import asyncio
            from pathlib import Path
            from aiogram import Router
            from hooks.hooks import register_hook
            router = Router()
            meeting = Path({str(meeting)!r})

            async def until(path):
                while not path.exists():
                    await asyncio.sleep(0.01)

            @register_hook("probe")
            async def probe(**kwargs):
                (meeting / "in-{name}").touch()
                for other in {names!r}:
                    await until(meeting / f"in-{{other}}")
                if {waits_for!r} is not None:
                    await until(meeting / "answered-{waits_for}")
                (meeting / "answered-{name}").touch()
                return {name!r}
            """,
        )
    async with make_runtime(modules, hook_timeout=60.0) as rt:
        results = await rt.run_hooks("probe")
        assert list(results) == names, list(results)
        assert len(list(meeting.iterdir())) == 2 * len(names)  # every call entered and answered once


async def test_hook_exception_is_logged_with_module_and_child_traceback(
    modules: ModuleFolder, make_runtime, caplog: pytest.LogCaptureFixture
) -> None:
    modules.add(
        "broken",
        """
        from aiogram import Router
        from hooks.hooks import register_hook
        router = Router()

        def compute_bonus(**kwargs):
            return 1 / 0

        register_hook("profile_menu", compute_bonus)
        """,
    )
    modules.add_button_module("healthy")
    async with make_runtime(modules) as rt:
        with caplog.at_level(logging.ERROR):
            results = await rt.run_hooks("profile_menu", chat_id=5)
        assert results.sources == ["healthy"]
        text = "\n".join(r.getMessage() for r in caplog.records)
        assert "broken" in text and "profile_menu" in text and "ZeroDivisionError" in text
        assert "compute_bonus" in text and "router.py" in text  # the child's traceback
        assert rt.module_status("broken")["state"] == "running"  # an exception is not a crash


async def test_thousands_of_failing_hook_functions_cost_a_few_log_lines(
    modules: ModuleFolder, make_runtime, caplog: pytest.LogCaptureFixture
) -> None:
    modules.add(
        "many",
        """
        from aiogram import Router
        from hooks.hooks import register_hook
        router = Router()

        def failing(i):
            def hook(**kwargs):
                raise ValueError(f"failure {i}")
            hook.__name__ = f"hook_{i}"
            return hook

        for i in range(3000):
            register_hook("profile_menu", failing(i))
        """,
    )
    modules.add_button_module("healthy")
    async with make_runtime(modules) as rt:
        with caplog.at_level(logging.ERROR, logger="solobot.hooks"):
            results = await rt.run_hooks("profile_menu", chat_id=5)
        assert results.sources == ["healthy"]
        lines = [r.getMessage() for r in caplog.records if "[module many]" in r.getMessage()]
        assert len(lines) == 6, [line[:80] for line in lines]  # five in full, then one count
        assert "failure 0" in lines[0] and "2995 more failure report(s) not shown" in lines[-1]


async def test_hook_that_never_returns_times_out_and_is_cancelled_in_the_child(
    modules: ModuleFolder, make_runtime, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    marker = tmp_path / "cancelled"
    modules.add(
        "hanging",
        f"""
        import asyncio, pathlib
        from aiogram import Router
        from hooks.hooks import register_hook
        router = Router()

        @register_hook("profile_menu")
        async def hang(**kwargs):
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                pathlib.Path({str(marker)!r}).write_text("yes")
                raise
        """,
    )
    modules.add_button_module("healthy")
    modules.add_button_module("other", hook="start_menu")
    # start_menu's limit is an hour: the call below finishing at all shows nothing waited for the hung module.
    async with make_runtime(modules, hook_timeouts={"profile_menu": 0.3, "start_menu": 3600}) as rt:
        with caplog.at_level(logging.ERROR):
            started = time.perf_counter()
            results = await asyncio.wait_for(rt.run_hooks("profile_menu"), 60)  # the hang is an hour: cut by the limit
            elapsed = time.perf_counter() - started
        assert results.sources == ["healthy"]
        assert elapsed >= 0.3  # not cut before its limit
        assert any("hanging" in r.getMessage() and "no result within" in r.getMessage() for r in caplog.records)
        await wait_until(marker.exists, timeout=5)

        # Other modules are not held up by the one that timed out (and is still being cancelled).
        assert list(await asyncio.wait_for(rt.run_hooks("start_menu"), 60))
        assert rt.module_status("hanging")["hook_timeouts"] == 1


async def test_three_timeouts_in_a_row_restart_the_module(modules: ModuleFolder, make_runtime) -> None:
    modules.add_hanging_module("sluggish")
    async with make_runtime(modules, hook_timeout=0.1, hook_rest_after_timeout=0) as rt:  # no rest: every call asks
        first_pid = pids(rt)["sluggish"]
        for _ in range(3):
            await rt.run_hooks("profile_menu")
        status = await wait_until(lambda: (s := rt.module_status("sluggish"))["pid"] not in (None, first_pid) and s)
        assert status["state"] == "running" and status["restarts"] == 1
        assert "3 hook timeouts in a row" in status["last_error"]


async def test_a_hook_that_timed_out_rests_so_menus_do_not_wait_for_it_again(
    modules: ModuleFolder, make_runtime, caplog: pytest.LogCaptureFixture
) -> None:
    """After a timeout the module is not asked that hook for ``hook_rest_after_timeout``: the calls
    meanwhile do not wait (its timeouts do not grow), the other modules answer; then it is asked again."""
    modules.add_hanging_module("sluggish")
    modules.add_button_module("healthy")
    async with make_runtime(modules, hook_timeout=0.2, hook_rest_after_timeout=1.0) as rt:
        pid = pids(rt)["sluggish"]
        with caplog.at_level(logging.WARNING, logger="solobot.runtime"):
            assert (await rt.run_hooks("profile_menu")).sources == ["healthy"]
        assert any("[module sluggish] hook profile_menu timed out: not asked again" in r.getMessage() for r in caplog.records)
        assert rt.module_status("sluggish")["hooks_resting"] == ["profile_menu"]
        assert "resting after a timeout (not asked for now): profile_menu" in details(rt.module_status("sluggish"))
        for _ in range(5):
            assert (await rt.run_hooks("profile_menu")).sources == ["healthy"]
        assert rt.module_status("sluggish")["hook_timeouts"] == 1  # not asked while resting
        await wait_until(lambda: not rt.module_status("sluggish")["hooks_resting"], timeout=5)
        assert (await rt.run_hooks("profile_menu")).sources == ["healthy"]  # asked again: a second timeout
        status = rt.module_status("sluggish")
        assert (status["hook_timeouts"], status["pid"]) == (2, pid)  # two in a row: not yet restarted


async def test_garbage_operations_are_dropped_and_the_keyboard_stays_intact(
    modules: ModuleFolder, make_runtime, caplog: pytest.LogCaptureFixture
) -> None:
    modules.add(
        "garbage",
        """
        from aiogram import Router
        from aiogram.types import InlineKeyboardButton
        from hooks.hooks import register_hook
        router = Router()

        @register_hook("profile_menu")
        async def wrong_types(**kwargs):
            return [42, "text", {"after": ["x"], "button": 1}, {"insert_at": "0"}]

        @register_hook("profile_menu")
        async def long_data(**kwargs):
            return {"button": InlineKeyboardButton(text="long", callback_data="x" * 200)}

        @register_hook("profile_menu")
        async def flood(**kwargs):
            return [InlineKeyboardButton(text=f"b{i}", callback_data=f"b{i}") for i in range(10_000)]

        @register_hook("profile_menu")
        async def not_a_dict(**kwargs):
            return 3.14
        """,
    )
    modules.add_button_module("healthy")
    async with make_runtime(modules) as rt:
        with caplog.at_level(logging.WARNING, logger="solobot.hooks"):
            results = await rt.run_hooks("profile_menu")
            rows = callback_rows(insert_hook_buttons(profile_keyboard(), results))
        assert rows[:3] == [["view_keys"], ["balance"], ["healthy|open"]]
        assert rows[3:6] == [["invite"], ["instructions"], ["start"]]
        flood_rows = [r for r in rows[6:] if r[0].startswith("b")]
        assert len(flood_rows) == 10  # capped
        dropped = [r.getMessage() for r in caplog.records if "invalid button operation" in r.getMessage()]
        assert dropped and all("garbage" in m for m in dropped)
        assert any("callback_data is 200 bytes" in m for m in dropped)
        assert any("float" in m for m in dropped)


async def test_nested_run_hooks_from_module_code(modules: ModuleFolder, make_runtime) -> None:
    modules.add(
        "asker",
        """
        from aiogram import Router
        from hooks.hooks import register_hook, run_hooks
        router = Router()

        @register_hook("profile_menu")
        async def ask_others(**kwargs):
            answers = await run_hooks("whoami", caller="asker")
            return {"remove": sorted(answers)}
        """,
    )
    for name in ("x_one", "y_two"):
        modules.add(
            name,
            f"""
            from aiogram import Router
            from hooks.hooks import register_hook
            router = Router()

            @register_hook("whoami")
            def whoami(caller, **kwargs):
                return {name!r} + "<-" + caller
            """,
        )
    async with make_runtime(modules) as rt:
        results = await rt.run_hooks("profile_menu")
        assert list(results) == [{"remove": ["x_one<-asker", "y_two<-asker"]}]


async def test_module_logs_reach_the_host_tagged(modules: ModuleFolder, make_runtime, caplog: pytest.LogCaptureFixture) -> None:
    modules.add(
        "chatty",
        """
        from aiogram import Router
        from hooks.hooks import register_hook
        from logger import logger
        router = Router()

        @register_hook("profile_menu")
        async def talk(**kwargs):
            logger.warning("hello from inside, chat %s", kwargs.get("chat_id"))
        """,
    )
    async with make_runtime(modules) as rt:
        with caplog.at_level(logging.INFO):
            await rt.run_hooks("profile_menu", chat_id=77)
            await wait_until(lambda: any("hello from inside, chat 77" in r.getMessage() for r in caplog.records), 5)
        record = next(r for r in caplog.records if "hello from inside" in r.getMessage())
        assert record.name == "solobot.module.chatty" and "[module chatty]" in record.getMessage()
        assert record.levelno == logging.WARNING


def test_a_module_log_record_cannot_forge_host_lines(caplog: pytest.LogCaptureFixture) -> None:
    from runtime.supervision.module_logs import ModuleLogSink

    sink = ModuleLogSink("chatty", 50)
    forged = "2026-01-01 00:00:00,000 ERROR solobot.runtime: [modules] victim: crashed"
    with caplog.at_level(logging.INFO):
        sink.emit({"level": 30, "logger": "a\nb\x1b[2J", "message": f"first\n{forged}\r\nthird\rfourth \x1b[31mred\x00\tend"})
    message = caplog.records[-1].getMessage()
    lines = message.split("\n")
    assert lines[0] == "[module chatty] a b\\x1b[2J: first"
    assert lines[1:] == [
        f"    [module chatty] {forged}",
        "    [module chatty] third",
        "    [module chatty] fourth \\x1b[31mred\\x00\tend",
    ]


async def test_unsupported_argument_is_a_clear_error(modules: ModuleFolder, make_runtime) -> None:
    modules.add_button_module("healthy")
    async with make_runtime(modules) as rt:
        with pytest.raises(TypeError, match=r"argument\['session'\].*builtins.object"):
            await rt.run_hooks("profile_menu", session=object())
        assert list(await rt.run_hooks("profile_menu"))  # nothing was left half-sent


async def test_os_exit_in_a_hook_fails_the_call_at_once(modules: ModuleFolder, make_runtime) -> None:
    modules.add(
        "exiter",
        """
        import os
        from aiogram import Router
        from hooks.hooks import register_hook
        router = Router()

        @register_hook("profile_menu")
        def bye(**kwargs):
            os._exit(7)
        """,
    )
    modules.add_button_module("healthy")
    async with make_runtime(modules, hook_timeouts={"profile_menu": 3600}) as rt:
        # The limit is an hour: an answer within a minute means the exit itself failed the call.
        results = await asyncio.wait_for(rt.run_hooks("profile_menu"), 60)
        assert results.sources == ["healthy"]
        status = await wait_until(lambda: (s := rt.module_status("exiter"))["state"] == "running" and s["restarts"] == 1 and s)
        assert "exited with code 7" in status["last_error"]


async def test_sigkill_during_a_call(modules: ModuleFolder, make_runtime) -> None:
    modules.add(
        "victim",
        """
        import asyncio
        from aiogram import Router
        from hooks.hooks import register_hook
        router = Router()

        @register_hook("profile_menu")
        async def slow(**kwargs):
            await asyncio.sleep(kwargs.get("delay", 0))
            return "victim"
        """,
    )
    modules.add_button_module("a_first")
    modules.add_button_module("z_last")
    async with make_runtime(modules, hook_timeouts={"profile_menu": 3600}) as rt:
        before = pids(rt)
        call = asyncio.ensure_future(rt.run_hooks("profile_menu", delay=3600))
        await asyncio.sleep(0.2)
        os.kill(before["victim"], signal.SIGKILL)
        # The call and the limit are an hour: an answer within a minute means the death itself ended it.
        results = await asyncio.wait_for(call, 60)
        assert results.sources == ["a_first", "z_last"]

        after = await wait_until(lambda: (p := pids(rt))["victim"] not in (None, before["victim"]) and p)
        assert {k: v for k, v in after.items() if k != "victim"} == {k: v for k, v in before.items() if k != "victim"}
        assert "victim" in await rt.run_hooks("profile_menu")
        status = rt.module_status("victim")
        assert status["restarts"] == 1 and "SIGKILL" in status["last_error"]
