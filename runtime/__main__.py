"""``python -m runtime``: run the module runtime on a modules folder and show what it does.

Starts every enabled module in its own process, prints their status, renders the core's
profile and key-card keyboards through the modules' hooks, and keeps the modules running
(supervised, restarted on crash) until Ctrl-C. ``--once`` exits after printing.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from aiogram.types import InlineKeyboardButton
from aiogram.utils.keyboard import InlineKeyboardBuilder

from hooks.hook_buttons import insert_hook_buttons
from hooks.hooks import run_hooks

from .module_runtime import ModuleRuntime

PROFILE = [("🔑 Мои подписки", "view_keys"), ("💰 Баланс", "balance"), ("👥 Пригласить", "invite"),
           ("📖 Инструкции", "instructions"), ("⬅️ Назад", "start")]  # fmt: skip
KEY_CARD = [("📺 Подключить TV", "connect_tv|demo_key"), ("⏳ Продлить", "renew_key|demo_key")]


def _keyboard(buttons: list[tuple[str, str]]) -> InlineKeyboardBuilder:
    builder = InlineKeyboardBuilder()
    for text, data in buttons:
        builder.row(InlineKeyboardButton(text=text, callback_data=data))
    return builder


def _print_keyboard(title: str, builder: InlineKeyboardBuilder) -> None:
    print(f"\n{title}")
    for row in builder.export():
        print("  " + " | ".join(f"[{b.text}] -> {b.callback_data or b.url}" for b in row))


async def _print_status(rt: ModuleRuntime) -> None:
    print(f"\n{'module':<18}{'version':<10}{'state':<13}{'pid':>8}{'USS MB':>9}  hooks / last error")
    for s in await rt.status_with_usage():
        uss = f"{s['uss'] / 2**20:.1f}" if s["uss"] else "-"
        last_error = (s["last_error"] or "").strip().splitlines()
        detail = ", ".join(s["hooks"]) or (last_error[-1] if last_error else "")
        print(f"{s['name']:<18}{s['version'] or '-':<10}{s['state']:<13}{s['pid'] or '-':>8}{uss:>9}  {detail}")


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runtime", description=__doc__.splitlines()[0])
    parser.add_argument("--modules", default="modules", help="modules folder (default: modules)")
    parser.add_argument("--state-file", default=None, help="enabled/disabled state (default: <DATA_DIR>/modules_state.json)")
    parser.add_argument("--once", action="store_true", help="exit after printing instead of serving until Ctrl-C")
    parser.add_argument("--data-dir", default="storage", help="modules' private folders (default: storage)")
    parser.add_argument(
        "--no-sandbox", action="store_true", help="run module code unconfined as your own user (development only)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    async with ModuleRuntime(args.modules, state_file=args.state_file, data_dir=args.data_dir, sandbox=not args.no_sandbox) as rt:
        await _print_status(rt)
        _print_keyboard(
            "Профиль (profile_menu):",
            insert_hook_buttons(_keyboard(PROFILE), await run_hooks("profile_menu", chat_id=1, admin=True)),
        )
        _print_keyboard(
            "Карточка подписки (view_key_menu):",
            insert_hook_buttons(_keyboard(KEY_CARD), await run_hooks("view_key_menu", key_name="demo_key")),
        )
        if args.once:
            return 0
        print("\nModules are running under supervision. Ctrl-C to stop.", flush=True)
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C, or a service manager's stop
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        await stop.wait()
        print("Stopping modules…", flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main()))
    except KeyboardInterrupt:
        sys.exit(0)
