"""Installing from the catalog, end to end: the real catalog (aiohttp, PostgreSQL, its login bot)
and the real bot (local Bot API, embedded PostgreSQL, sandboxed module processes).

The developer publishes through the catalog's pages; the bot's installer fetches the signed index,
verifies, checks the licence, stages, grants and starts; the runtime's status, the module's
button for users and the admins' chat are the referees.
"""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import time
import zipfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from aiohttp import web
from sqlalchemy import select

from catalog.db.models import Licence
from catalog.licences.service import licence_token
from catalog.signing import CatalogSigner
from catalog.verify import Release
from handlers import texts
from handlers.admin import catalog_texts as ct
from handlers.admin import modules_texts as mt
from installer import Installer, InstallRefused
from installer.staging import stage_release
from modcheck.scaffold import render
from tests.catalog_fixtures import CatalogClient, CatalogWorld, approved_developer, catalog_world, image_bytes, zip_archive
from tests.conftest import fresh_database
from tests.core_fixtures import callbacks, press, press_forged, send, shown
from tests.solobot_harness import ADMIN_ID, Solobot, running_solobot, traversable_dir

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(300)]

MODULE = "paid_notes"
DEVELOPER = 4401
# The skeleton's table has a foreign key to users(tg_id): it asks for that too (granted with the install).
REQUEST = (
    '[request]\ndb_read = ["users"]\nreferences_users = true\n'
    'reason.db_read = "показывает имя пользователя в заметках"\n'
    'reason.references_users = "заметки ссылаются на пользователя"\n'
)
BROKEN_INIT = (
    '__all__ = ("router",)\nfrom .router import router\nfrom . import models\n\nraise RuntimeError("1.2.0 сломан при импорте")\n'
)


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class World:
    catalog: CatalogWorld
    dev: CatalogClient
    bot: Solobot
    config: Path
    admin_licences: list[str]

    @property
    def installer(self) -> Installer:
        assert self.bot.host.catalog is not None
        return self.bot.host.catalog

    async def publish(self, version: str, changelog: str = "", **files: str) -> None:
        # The project's own skeleton with a table of the module's own (its first-visit dates).
        content = {**render(MODULE, with_db=True), "VERSION": version + "\n", "module.toml": REQUEST, **files}
        archive = zip_archive(content, f"modules/{MODULE}/")  # type: ignore[arg-type]
        status, page = await self.dev.post(
            f"/manage/{MODULE}/releases", {"changelog": changelog}, files={"archive": ("m.zip", archive)}
        )
        assert status == 201, page

    async def _licences(self) -> dict[str, str]:
        async with self.catalog.catalog.sessions() as db:
            return {row.id: row.token for row in await db.scalars(select(Licence))}

    async def issue_licence(self, user_id: int, bot_id: int | None = None) -> tuple[str, str]:
        before = await self._licences()
        status, page = await self.dev.post(
            f"/manage/{MODULE}/licences", {"user_id": str(user_id), "bot_id": str(bot_id or ""), "not_after": ""}
        )
        assert status == 200 and f"выдана пользователю {user_id}" in page, page
        [(licence_id, token)] = [(k, v) for k, v in (await self._licences()).items() if k not in before]
        if user_id == ADMIN_ID and bot_id is None:
            self.admin_licences.append(licence_id)
        return licence_id, token


@pytest.fixture(scope="module")
async def world(pg_url: str, anyio_backend: str) -> AsyncIterator[World]:
    with traversable_dir() as root:
        config = root / "modules.toml"
        config.write_text("# the operator's file\n[modules.someone_else]\nnetwork = false\n", encoding="utf-8")
        saved = os.environ.get("MODULES_CONFIG")
        os.environ["MODULES_CONFIG"] = str(config)
        try:
            async with catalog_world(pg_url) as catalog, catalog.client() as dev:
                await approved_developer(catalog, dev, DEVELOPER, MODULE)
                _, page = await dev.post(
                    f"/manage/{MODULE}/text", {"summary": "Заметки для пользователей", "description": "Заметки", "paid": "on"}
                )
                assert "Описание сохранено" in page, page
                await dev.post(f"/manage/{MODULE}/image", files={"image": ("a.png", image_bytes(1280, 720))})
                (root / "modules").mkdir()
                async with (
                    fresh_database(pg_url) as url,
                    running_solobot(
                        url,
                        root / "modules",
                        root,
                        catalog_url=catalog.url,
                        catalog_public_key=catalog.catalog.signer.public_key_text,
                    ) as bot,
                ):
                    world = World(catalog, dev, bot, config, [])
                    await world.publish("1.0.0", "Первый выпуск")
                    yield world
        finally:
            if saved is None:
                os.environ.pop("MODULES_CONFIG", None)
            else:
                os.environ["MODULES_CONFIG"] = saved


def nothing_installed(world: World) -> None:
    assert not (world.bot.modules_dir / MODULE).exists()
    assert world.installer.records.get(MODULE) is None
    assert MODULE not in world.config.read_text(encoding="utf-8")


async def test_refusals_leave_nothing_installed(world: World) -> None:
    installer = world.installer
    # No licence at all: a paid module is refused before anything is downloaded.
    with pytest.raises(InstallRefused, match="модуль платный, а лицензии нет"):
        await installer.install(MODULE)
    nothing_installed(world)

    # A licence for another user, and one bound to another bot.
    _, other_user = await world.issue_licence(5551)
    with pytest.raises(InstallRefused, match="issued to user 5551, not to this bot's admins"):
        await installer.add_licence(other_user)
    _, other_bot = await world.issue_licence(ADMIN_ID, bot_id=777)
    with pytest.raises(InstallRefused, match="bound to bot 777"):
        await installer.add_licence(other_bot)

    # An expired licence, signed by the catalog's own key.
    signer: CatalogSigner = world.catalog.catalog.signer
    expired = Licence(
        id="lic_expired", module=MODULE, user_id=ADMIN_ID, bot_id=None, not_after=datetime(2020, 1, 1),
        issued_at=datetime(2019, 1, 1), issued_by=DEVELOPER, token="",
    )  # fmt: skip
    with pytest.raises(InstallRefused, match="expired"):
        await installer.add_licence(licence_token(signer, expired))
    assert installer.wallet.tokens == []
    nothing_installed(world)

    # A valid licence, but the archive in the catalog's storage was altered after signing.
    _, token = await world.issue_licence(ADMIN_ID)
    await installer.add_licence(token)
    storage = world.catalog.catalog.storage
    key = next(k for k in _storage_keys(storage.root) if k.startswith(f"releases/{MODULE}/"))
    original = storage.get(key)
    middle = len(original) // 2
    flipped = original[:middle] + bytes([original[middle] ^ 1]) + original[middle + 1 :]  # same size, one bit
    try:
        storage.put(key, flipped)
        with pytest.raises(InstallRefused, match="archive SHA-256 differs from the signed index"):
            await installer.install(MODULE)
        storage.put(key, _tampered(original))  # a line added to router.py: a longer archive
        with pytest.raises(InstallRefused, match="больше, чем заявлено"):
            await installer.install(MODULE)
    finally:
        storage.put(key, original)
    nothing_installed(world)

    # Revoked by the developer: no longer a licence this bot holds (the next test adds its own).
    for licence_id in world.admin_licences:
        status, page = await world.dev.post(f"/manage/{MODULE}/licences/{licence_id}/revoke")
        assert status == 200, page
    with pytest.raises(InstallRefused, match="revoked by the developer"):
        await installer.install(MODULE)
    nothing_installed(world)

    # An index signed by another key (a catalog impersonated, or the wrong key pinned).
    impostor = Installer(
        catalog_url=world.catalog.url,
        public_key=CatalogSigner.load_or_create(world.bot.modules_dir.parent / "other-key")[0].public_key_text,
        data_dir=world.bot.modules_dir.parent / "other-data",
        modules_dir=world.bot.modules_dir,
        modules_config=world.config,
        admin_ids=(ADMIN_ID,),
        bot_id=None,
        runtime=world.bot.host.runtime,  # type: ignore[arg-type]
    )
    with pytest.raises(InstallRefused, match="signature does not match"):
        await impostor.install(MODULE)
    nothing_installed(world)

    # An index the catalog signed long ago, replayed after its expiry (a frozen catalog).
    frozen = signer.sign_document({"kind": "index", "version": 10**6, "expires": 1_600_000_000, "modules": {}})
    async with replaying(frozen) as url:
        real_url, installer.feed.url = installer.feed.url, url
        try:
            with pytest.raises(InstallRefused, match="expired at 1600000000"):
                await installer.install(MODULE)
        finally:
            installer.feed.url = real_url
    nothing_installed(world)

    # An older index than one already accepted (a replay).
    seen = installer.state.seen_version("index") or 0
    installer.state.data["seen"]["index"] = seen + 5
    try:
        with pytest.raises(InstallRefused, match="older than version"):
            await installer.feed.index()
    finally:
        installer.state.data["seen"]["index"] = seen
    nothing_installed(world)


@asynccontextmanager
async def replaying(envelope: dict) -> AsyncIterator[str]:
    """A server that answers every index request with ``envelope`` (a man in the middle)."""

    async def index(_request: web.Request) -> web.Response:
        return web.json_response(envelope)

    app = web.Application()
    app.router.add_get("/api/v1/index", index)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def _storage_keys(root: Path) -> list[str]:
    return [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()]


def _tampered(data: bytes) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            content = source.read(info)
            if info.filename.endswith("router.py"):
                content += b"\nimport os  # what an attacker would add\n"
            target.writestr(info, content)
    return out.getvalue()


async def test_an_archive_with_dotdot_paths_is_refused_with_nothing_written(tmp_path: Path) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(f"modules/{MODULE}/__init__.py", "")
        archive.writestr(f"modules/{MODULE}/../../escaped.py", "print('out')")
    release = Release(MODULE, "1.0.0", "0" * 64, len(out.getvalue()), "", False, {}, None)
    with pytest.raises(InstallRefused, match=r"«\.\.» в пути архива запрещено"):
        await stage_release(out.getvalue(), release, tmp_path / "staging" / MODULE)
    assert not (tmp_path / "staging" / MODULE).exists()
    assert not any(tmp_path.rglob("escaped.py"))


async def first_visit(world: World) -> str:
    """The module's screen for a user: the first-visit date it keeps in its own table."""
    user = world.bot.user(7001, "Покупатель")
    await profile_buttons(world)
    screen = await press(user, f"{MODULE}|open", "впервые открыли", timeout=15)
    return shown(screen).split("впервые открыли этот раздел")[1]


async def profile_buttons(world: World) -> list[str | None]:
    user = world.bot.user(7001, "Покупатель")
    await send(user, "/start", "Добро пожаловать")
    return callbacks(await press(user, "profile", "Профиль"))


async def test_install_update_broken_release_rollback_and_revocation(world: World) -> None:
    """The issue's end-to-end: the admin works through «🧩 Модули» → «🛒 Каталог»."""
    installer = world.installer
    licence_id, token = await world.issue_licence(ADMIN_ID)
    admin = world.bot.user(ADMIN_ID)

    # The admin opens the catalog: the paid module is listed, no licence yet.
    await send(admin, "/admin", "Панель администратора")
    await press(admin, mt.BTN_MODULES, "Модули")
    listing = await press(admin, ct.BTN_CATALOG, "Каталог модулей", timeout=15)
    assert MODULE in shown(listing) and "платный" in shown(listing) and "лицензии нет" in shown(listing)
    await press(admin, ct.BTN_LICENCE, "токен лицензии")
    added = await send(admin, token, "сохранена", timeout=15)
    assert licence_id in shown(added)
    listing = await press(admin, ct.BTN_TO_CATALOG, "Каталог модулей", timeout=15)
    assert "🔑 лицензия есть" in shown(listing)

    # The card: its 16:9 image, releases with the changelog, the request with its reason, the licence.
    card = await press(admin, f"{MODULE} 1.0.0", "Релизы", timeout=15)
    assert card.photo_file_id is not None
    text = shown(card)
    assert "1.0.0: Первый выпуск" in text
    assert 'db_read = ["users"]' in text and "показывает имя пользователя" in text and licence_id in text

    confirm = await press(admin, ct.BTN_INSTALL, "Установка paid_notes 1.0.0", timeout=15)
    assert ct.BTN_GRANT in confirm.buttons and ct.BTN_DEFAULTS in confirm.buttons
    done = await press(admin, ct.BTN_GRANT, "установлен", timeout=60)
    assert "paid_notes установлен: 1.0.0" in shown(done)
    status = world.bot.host.runtime.module_status(MODULE)
    assert status["state"] == "running" and status["version"] == "1.0.0"
    assert "rlimits" in " ".join(status["sandbox"])  # confined like any module
    granted = world.config.read_text(encoding="utf-8")
    assert f"[modules.{MODULE}]" in granted and "paid_notes 1.0.0 из каталога" in granted and "someone_else" in granted
    assert f"{MODULE}|open" in await profile_buttons(world)
    record = installer.records.get(MODULE)
    assert record.version == "1.0.0" and record.source == world.catalog.url and record.licence_id == licence_id

    # A user who is not an admin, forging the catalog's buttons, changes nothing.
    stranger = world.bot.user(7002, "Чужой")
    await send(stranger, "/start", "Добро пожаловать")
    for data in (f"admin_cat:remove_ok:{MODULE}::", f"admin_cat:install:{MODULE}:1.0.0:gr", "admin_cat:licence:::"):
        answer = await press_forged(stranger, data)
        assert answer["text"] == texts.NOT_ADMIN
    assert installer.records.get(MODULE).version == "1.0.0" and runtime_state(world) == "running"

    # The module's data must survive updates and rollbacks: a row in its own table, a file in its folder.
    visited = await first_visit(world)
    data = Path(world.bot.host.settings.data_dir) / "modules" / MODULE
    assert data.is_dir()
    (data / "notes.txt").write_text("заметка", encoding="utf-8")

    # 1.1.0 appears: the admins get one notice with «Обновить», and the button updates.
    await world.publish("1.1.0", "Новые заметки")
    await installer_check(world)
    notice = await admin.wait_until(lambda u: _message_with(u, "Доступно обновление"), timeout=10)
    assert "1.0.0 → 1.1.0" in notice.text and "Новые заметки" in notice.text and ct.BTN_UPDATE in notice.buttons
    await installer_check(world)  # once per release
    assert sum("Доступно обновление" in (m.text or "") for m in admin.chat) == 1
    await press(admin, ct.BTN_UPDATE, "Установка paid_notes 1.1.0", timeout=15)
    done = await press(admin, ct.BTN_GRANT, "обновлён", timeout=60)
    assert "обновлён до 1.1.0" in shown(done)
    assert world.bot.host.runtime.module_status(MODULE)["version"] == "1.1.0"

    # A broken 1.2.0: 1.1.0 keeps serving, the admins are told why, and it is not retried.
    await world.publish("1.2.0", "Сломанный", **{"__init__.py": BROKEN_INIT})
    with pytest.raises(InstallRefused, match=r"работает прежняя версия 1\.1\.0.*сломан при импорте"):
        await installer.update(MODULE)
    status = world.bot.host.runtime.module_status(MODULE)
    assert status["state"] == "running" and status["version"] == "1.1.0"
    await admin.wait_until(lambda u: _message_with(u, "1.2.0 не запустился"), timeout=10)
    assert installer.records.get(MODULE).version == "1.1.0"
    [skipped] = await installer.update()
    assert "уже не запустился здесь" in skipped.message
    assert f"{MODULE}|open" in await profile_buttons(world)

    # One-step rollback: back to 1.0.0, the data folder intact.
    back = await installer.rollback(MODULE)
    assert back.version == "1.0.0" and world.bot.host.runtime.module_status(MODULE)["version"] == "1.0.0"
    assert (data / "notes.txt").read_text(encoding="utf-8") == "заметка"
    assert await first_visit(world) == visited

    # The developer revokes the licence: the next check stops the module and tells the admins.
    status_code, page = await world.dev.post(f"/manage/{MODULE}/licences/{licence_id}/revoke")
    assert status_code == 200, page
    await installer_check(world)
    assert world.bot.host.runtime.module_status(MODULE)["state"] == "stopped"
    await admin.wait_until(lambda u: _message_with(u, f"Модуль {MODULE} остановлен"), timeout=10)
    await world.bot.host.runtime.start(MODULE)  # started by hand without a licence: the next check stops it again
    await installer_check(world)
    assert runtime_state(world) == "stopped"
    assert (data / "notes.txt").exists()
    assert f"{MODULE}|open" not in await profile_buttons(world)

    removed = await installer.remove(MODULE)
    assert "сохранены" in removed.message
    nothing_installed(world)
    assert (data / "notes.txt").exists()
    shutil.rmtree(data)


def runtime_state(world: World) -> str:
    return world.bot.host.runtime.module_status(MODULE)["state"]  # type: ignore[union-attr]


async def installer_check(world: World) -> None:
    assert world.bot.host.catalog_watch is not None
    await world.bot.host.catalog_watch.check_once()


def _message_with(user: object, needle: str) -> object:
    return next((m for m in reversed(user.chat) if needle in (m.text or "")), None)  # type: ignore[attr-defined]


async def cli(world: World, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """``solobot catalog ...`` against the running bot's control socket (in a thread: it blocks)."""
    from cli.main import main
    from host.control import control_socket_path, describe_address

    socket = describe_address(control_socket_path(world.bot.host.settings))
    capsys.readouterr()
    code = await asyncio.to_thread(main, ["catalog", *args, "--socket", socket])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


async def test_the_same_through_the_cli(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    runtime = world.bot.host.runtime
    licence_id, token = await world.issue_licence(ADMIN_ID)

    code, out = await cli(world, capsys, "licence", token)
    assert code == 0 and licence_id in out
    code, out = await cli(world, capsys, "list")
    assert code == 0 and MODULE in out and "paid, licence held" in out and "1.2.0" in out
    code, out = await cli(world, capsys, "show", MODULE)
    assert code == 0 and "db_read = ['users'] — показывает имя пользователя" in out and "1.1.0: Новые заметки" in out

    # Refusals: an unknown module, a release that does not exist, no answer to the permissions question.
    code, out = await cli(world, capsys, "install", "no_such_module")
    assert code == 1 and "нет модуля 'no_such_module'" in out
    code, out = await cli(world, capsys, "install", f"{MODULE}==9.9.9")
    assert code == 1 and "нет релиза 9.9.9" in out
    code, out = await cli(world, capsys, "install", f"{MODULE}==1.0.0")
    assert code == 2 and "--grant or --defaults" in out
    assert not (world.bot.modules_dir / MODULE).exists()

    code, out = await cli(world, capsys, "install", f"{MODULE}==1.0.0", "--grant")
    assert code == 0 and "установлен: 1.0.0" in out, out
    assert runtime.module_status(MODULE)["state"] == "running"
    code, out = await cli(world, capsys, "install", f"{MODULE}==1.1.0", "--grant")
    assert code == 0 and "обновлён до 1.1.0" in out, out
    code, out = await cli(world, capsys, "update", MODULE)  # 1.2.0 failed here before: not retried
    assert code == 0 and "уже не запустился здесь" in out
    assert runtime.module_status(MODULE)["version"] == "1.1.0"
    code, out = await cli(world, capsys, "rollback", MODULE)
    assert code == 0 and "откатан к 1.0.0" in out
    assert runtime.module_status(MODULE)["version"] == "1.0.0"

    from cli.main import main
    from host.control import control_socket_path, describe_address

    socket = describe_address(control_socket_path(world.bot.host.settings))
    capsys.readouterr()
    assert await asyncio.to_thread(main, ["modules", "status", MODULE, "--socket", socket]) == 0
    status_out = capsys.readouterr().out
    assert "1.0.0*" in status_out and f"installed from the catalog {world.catalog.url}: 1.0.0; previous 1.1.0" in status_out

    code, out = await cli(world, capsys, "remove", MODULE)
    assert code == 0 and "удалён" in out
    nothing_installed(world)
    code, out = await cli(world, capsys, "rollback", MODULE)
    assert code == 1 and "не установлен из каталога" in out


async def test_a_hand_placed_folder_is_replaced_only_with_confirmation(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    hand = world.bot.modules_dir / MODULE
    hand.mkdir()
    (hand / "__init__.py").write_text("# the operator's own copy\n", encoding="utf-8")
    try:
        code, out = await cli(world, capsys, "install", MODULE, "--defaults")
        assert code == 1 and "--replace" in out
        assert (hand / "__init__.py").read_text(encoding="utf-8") == "# the operator's own copy\n"
        with pytest.raises(InstallRefused, match="поставлена не из каталога"):
            await world.installer.install(MODULE, "1.0.0")
        code, out = await cli(world, capsys, "install", f"{MODULE}==1.0.0", "--defaults", "--replace")
        assert code == 0 and "1.0.0" in out, out
        kept = world.installer.folders.previous(MODULE) / "__init__.py"
        assert kept.read_text(encoding="utf-8") == "# the operator's own copy\n"  # kept for rollback
        assert MODULE not in world.config.read_text(encoding="utf-8")  # defaults: nothing granted
    finally:
        await world.installer.remove(MODULE)


async def test_offline_grace_then_the_module_stops_and_comes_back(world: World) -> None:
    installer, runtime = world.installer, world.bot.host.runtime
    watch = world.bot.host.catalog_watch
    assert watch is not None
    _, token = await world.issue_licence(ADMIN_ID)
    await installer.add_licence(token)
    await installer.install(MODULE, "1.0.0", grant=True)
    admin = world.bot.user(ADMIN_ID)
    real_url = installer.feed.url
    installer.feed.url = "http://127.0.0.1:9"  # the catalog is unreachable (discard port: refused)
    try:
        await watch.check_once()  # within the grace period: the last verified revocation list counts
        assert runtime.module_status(MODULE)["state"] == "running"
        later = time.time() + watch.offline_grace + 3600
        await watch.check_once(now=later)
        assert runtime.module_status(MODULE)["state"] == "stopped"
        stopped = await admin.wait_until(lambda u: _message_with(u, "каталог недоступен дольше 72 ч"), timeout=10)
        assert f"Модуль {MODULE} остановлен" in stopped.text
    finally:
        installer.feed.url = real_url
    await watch.check_once()  # the catalog answers again and the licence is valid: started again
    assert runtime.module_status(MODULE)["state"] == "running"
    await admin.wait_until(lambda u: _message_with(u, f"Лицензия модуля {MODULE} снова действует"), timeout=10)
    await installer.remove(MODULE)
