"""Installing from the catalog: time from «install» to the module running, and updates while it serves.

Run from the project root:  PYTHONPATH=/work/main python benchmarks/bench_catalog_install.py [--rounds N]

One process runs a real catalog (aiohttp + the embedded PostgreSQL, releases published through
the catalog's own upload service: archive checks, checker, signing) and the whole bot
(``SolobotHost``: local Bot API server, polling, sandboxed module processes) pinned to the
catalog's key.

Part A — install → running, interleaved per round:
  * ``catalog install``: ``Installer.install(name, "1.0.0", grant=True)`` — index fetch and
    verification, download, SHA-256 and signature, staging with the archive rules and the checker,
    the grant written to modules.toml, atomic move, sandboxed start; then ``remove``;
  * ``start of a hand-placed copy`` (the floor): the same module's folder copied into modules/ and
    ``runtime.start`` (sandboxed); then ``forget`` and the folder removed.

Part B — updates with the module serving: a simulated user keeps pressing the module's button
(4 presses in flight; the module answers each with its version) while the installer updates it
1.0.0 → 1.1.0 → … (``Installer.update``, the runtime's keep-last-good reload). Reported: the update
time, presses sent / answered / answered by the module itself (not the host's «раздел недоступен»
fallback) / lost (no answer within 10 s), and answers per version.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _bridge import AnswerWatcher, embedded_database
from _common import machine_info, print_header, print_table, quiet_runtime_logs, summarize, write_results

from catalog.config import CatalogSettings
from catalog.db.models import Account, Module
from catalog.releases.service import upload_release
from catalog.server import running_catalog
from config import Settings
from host import SolobotHost
from local_bot_api import LocalBotAPI
from runtime import RuntimeConfig
from tests.catalog_fixtures import module_files, zip_archive

NAME = "bench_store"
DEVELOPER = 4401
ADMIN = 1
IN_FLIGHT = 4
ANSWER_TIMEOUT = 10.0
REQUEST = '[request]\ndb_read = ["users"]\nreason.db_read = "benchmark"\n'
PING_ROUTER = """\
from aiogram import F, Router
from aiogram.types import CallbackQuery

router = Router()
VERSION = "{version}"


@router.callback_query(F.data == "{name}|ping")
async def ping(callback: CallbackQuery):
    await callback.answer("pong " + VERSION)
"""


def archive(version: str) -> bytes:
    files = module_files(NAME, version, module_toml=REQUEST)
    files["router.py"] = PING_ROUTER.format(version=version, name=NAME)
    return zip_archive(files, f"modules/{NAME}/")  # type: ignore[arg-type]


async def publish(running: Any, version: str) -> None:
    catalog = running.catalog
    async with catalog.sessions.begin() as db:
        outcome = await upload_release(
            db, catalog.storage, catalog.checker, catalog.signer, NAME, DEVELOPER, archive(version), f"версия {version}"
        )
    assert outcome.release is not None and outcome.release.status == "published", outcome.refusal


async def part_a(host: SolobotHost, rounds: int, staging: Path) -> dict[str, list[float]]:
    installer, runtime = host.catalog, host.runtime
    assert installer is not None and runtime is not None
    samples: dict[str, list[float]] = {"catalog install": [], "start of a hand-placed copy": []}
    hand = staging / "hand"
    for name, content in module_files(NAME, "1.0.0", module_toml=REQUEST).items():
        (hand / name).parent.mkdir(parents=True, exist_ok=True)
        (hand / name).write_text(content if name != "router.py" else PING_ROUTER.format(version="1.0.0", name=NAME))
    for i in range(rounds):
        order = ["catalog install", "start of a hand-placed copy"]
        if i % 2:
            order.reverse()
        for case in order:
            if case == "catalog install":
                started = time.perf_counter()
                outcome = await installer.install(NAME, "1.0.0", grant=True)
                samples[case].append(time.perf_counter() - started)
                assert outcome.status and outcome.status["state"] == "running"
                await installer.remove(NAME)
            else:
                shutil.copytree(hand, runtime.modules_dir / NAME)
                started = time.perf_counter()
                await runtime.start(NAME)
                samples[case].append(time.perf_counter() - started)
                assert runtime.module_status(NAME)["state"] == "running"
                await runtime.forget(NAME)
                shutil.rmtree(runtime.modules_dir / NAME)
    return samples


async def part_b(host: SolobotHost, api: LocalBotAPI, running: Any, updates: int) -> dict[str, Any]:
    installer = host.catalog
    assert installer is not None
    await installer.install(NAME, "1.0.0", grant=True)
    user = api.user(7001, "Покупатель")
    await host.bot.send_message(user.id, "кнопка", reply_markup=_ping_markup())  # type: ignore[union-attr]
    await asyncio.sleep(0.2)
    watcher = AnswerWatcher(api)
    sent = answered = 0
    lost = 0
    versions: dict[str, int] = {}
    stop = asyncio.Event()

    async def presser() -> None:
        nonlocal sent, answered, lost
        while not stop.is_set():
            query = await user.press(f"{NAME}|ping")
            sent += 1
            try:
                await asyncio.wait_for(watcher.expect(query), ANSWER_TIMEOUT)
            except TimeoutError:
                lost += 1
                continue
            answered += 1
            text = (api.world.callback_queries[query].answer or {}).get("text", "")
            versions[text] = versions.get(text, 0) + 1

    pressers = [asyncio.create_task(presser()) for _ in range(IN_FLIGHT)]
    await asyncio.sleep(1.0)  # serving before the first update
    times = []
    for i in range(updates):
        version = f"1.{i + 1}.0"
        await publish(running, version)
        started = time.perf_counter()
        [outcome] = await installer.update(NAME)
        times.append(time.perf_counter() - started)
        assert outcome.version == version, outcome.message
        await asyncio.sleep(0.5)
    stop.set()
    await asyncio.gather(*pressers)
    return {"update_seconds": times, "sent": sent, "answered": answered, "lost": lost, "answers_by_version": versions}


def _ping_markup() -> Any:
    from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="ping", callback_data=f"{NAME}|ping")]])


async def main(rounds: int, updates: int) -> None:
    info = machine_info()
    print_header("catalog install → running, updates while serving", info)
    quiet_runtime_logs()
    root = Path(tempfile.mkdtemp(prefix="bench-catalog-"))
    root.chmod(0o755)
    config = root / "modules.toml"
    config.write_text("", encoding="utf-8")
    os.environ["MODULES_CONFIG"] = str(config)
    try:
        async with embedded_database(root / "pg") as (url, _server):
            settings = CatalogSettings(data_dir=root / "catalog", database_url=url, port=0, start_check=False)
            async with running_catalog(settings) as running:
                running.catalog.publisher.public_url = running.url
                async with running.catalog.sessions.begin() as db:
                    db.add(Account(tg_id=DEVELOPER, first_name="Dev"))
                    await db.flush()
                    db.add(Module(name=NAME, owner_id=DEVELOPER, summary="benchmark", paid=False))
                await publish(running, "1.0.0")
                (root / "modules").mkdir()
                async with LocalBotAPI(token="123456:BENCH") as api:
                    api.user(tg_id=ADMIN, first_name="Админ")
                    bot_settings = Settings(
                        bot_token=api.token, telegram_api_url=api.base_url, database_url=url, admin_ids=(ADMIN,),
                        modules_dir=str(root / "modules"), web_host="127.0.0.1", web_port=0,
                        data_dir=str(root / "storage"), catalog_url=running.url,
                        catalog_public_key=running.catalog.signer.public_key_text,
                    )  # fmt: skip
                    host = SolobotHost(
                        bot_settings,
                        runtime_config=RuntimeConfig(update_timeout=10.0),
                        state_file=root / "storage" / "modules_state.json",
                        notifications=False,
                        throttle_rate=0.0,
                    )
                    async with host:
                        a = await part_a(host, rounds, root)
                        b = await part_b(host, api, running, updates)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    ms = {case: summarize(values, 1000) for case, values in a.items()}
    print("\nPart A — install → running, ms")
    print_table(
        ["case", "n", "p50", "p90", "max"],
        [[case, s["n"], s["p50"], s["p90"], s["max"]] for case, s in ms.items()],
    )
    ratio = ms["catalog install"]["p50"] / ms["start of a hand-placed copy"]["p50"]
    print(f"ratio of the medians (install / start): {ratio:.2f}×")
    upd = summarize(b["update_seconds"], 1000)
    print("\nPart B — updates while serving")
    by_module = sum(n for text, n in b["answers_by_version"].items() if text.startswith("pong "))
    print_table(["updates", "p50 ms", "max ms", "presses", "answered", "by the module", "lost"],
                [[upd["n"], upd["p50"], upd["max"], b["sent"], b["answered"], by_module, b["lost"]]])  # fmt: skip
    print("answers by version:", b["answers_by_version"])
    path = write_results(
        "bench_catalog_install",
        {"machine": info, "install_ms": ms, "install_over_start_p50": ratio, "update_ms": upd, "serving": b},
    )
    print(f"\nresults: {path}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--updates", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.updates))
