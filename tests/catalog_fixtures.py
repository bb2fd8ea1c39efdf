"""Shared parts of the catalog's tests: a real catalog (aiohttp + PostgreSQL + its login bot on the
local Bot API server), an HTTP client that signs in through the bot like a person, module archives
and images built on the fly.
"""

from __future__ import annotations

import io
import re
import tarfile
import tempfile
import textwrap
import zipfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from PIL import Image

from catalog.config import CatalogSettings
from catalog.server import RunningCatalog, running_catalog
from local_bot_api import LocalBotAPI
from tests.conftest import fresh_database

CATALOG_BOT_TOKEN = "7000001:CATALOG"
MODERATOR = 900001
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class CatalogWorld:
    running: RunningCatalog
    api: LocalBotAPI

    @property
    def url(self) -> str:
        return self.running.url

    @property
    def catalog(self) -> Any:
        return self.running.catalog

    def client(self) -> CatalogClient:
        return CatalogClient(self)


@asynccontextmanager
async def catalog_world(pg_url: str, *, start_check: bool = False, **overrides: Any) -> AsyncIterator[CatalogWorld]:
    """A catalog on a fresh database, its login bot polling a local Bot API server, on a free port."""
    with tempfile.TemporaryDirectory(prefix="catalog-test-") as folder:
        async with (
            LocalBotAPI(token=CATALOG_BOT_TOKEN, bot_username="solobot_catalog_bot") as api,
            fresh_database(pg_url) as url,
        ):
            settings = CatalogSettings(
                data_dir=Path(folder) / "catalog",
                database_url=url,
                admin_ids=frozenset({MODERATOR}),
                bot_token=api.token,
                telegram_api_url=api.base_url,
                port=0,
                start_check=start_check,
                **overrides,
            )
            async with running_catalog(settings) as running:
                yield CatalogWorld(running, api)


class CatalogClient:
    """A browser-like HTTP client: keeps cookies, fills each form's CSRF token, signs in through the bot."""

    def __init__(self, world: CatalogWorld) -> None:
        self.world = world
        self.http = aiohttp.ClientSession(base_url=world.url, cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    async def __aenter__(self) -> CatalogClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.close()

    async def get(self, path: str, **kwargs: Any) -> tuple[int, str]:
        async with self.http.get(path, **kwargs) as response:
            text = await response.text()
            if found := CSRF.search(text):
                self.csrf = found.group(1)
            return response.status, text

    async def post(
        self,
        path: str,
        data: dict[str, Any] | None = None,
        *,
        csrf: bool = True,
        files: dict[str, tuple[str, bytes]] | None = None,
    ) -> tuple[int, str]:
        if not self.csrf:
            await self.get("/login")
        form = aiohttp.FormData()
        for key, value in {**({"csrf": self.csrf} if csrf else {}), **(data or {})}.items():
            form.add_field(key, str(value))
        for key, (filename, content) in (files or {}).items():
            form.add_field(key, content, filename=filename, content_type="application/octet-stream")
        async with self.http.post(path, data=form) as response:
            text = await response.text()
            if found := CSRF.search(text):
                self.csrf = found.group(1)
            return response.status, text

    async def sign_in(self, tg_id: int, first_name: str = "Тест") -> None:
        """The one-time link, confirmed by the user in the catalog's bot (real Bot API round trip)."""
        status, page = await self.post("/login/link")
        assert status == 200, page
        command = re.search(r'id="login-command">([^<]+)<', page).group(1)  # type: ignore[union-attr]
        user = self.world.api.user(tg_id, first_name)
        await user.send(command)
        await user.wait_until(lambda u: any("Подтвердить вход" in b for m in u.chat for b in m.buttons), timeout=10)
        await user.press("✅ Подтвердить вход")
        await user.wait_until(lambda u: "Вход подтверждён" in (u.last_message.text or ""), timeout=10)
        status, page = await self.get("/login/wait")
        assert status == 200 and "Личный кабинет" in page, page


# --- module archives --------------------------------------------------------------------------

ROUTER = """\
from aiogram import F, Router
from aiogram.types import CallbackQuery, InlineKeyboardButton

from hooks.hooks import register_hook

from .texts import BTN, HELLO

router = Router()


async def profile_menu_hook(**kwargs):
    return {"after": "balance", "button": InlineKeyboardButton(text=BTN, callback_data="NAME|open")}


register_hook("profile_menu", profile_menu_hook)


@router.callback_query(F.data == "NAME|open")
async def open_screen(callback: CallbackQuery):
    await callback.message.edit_text(HELLO)
"""


def module_files(name: str, version: str, *, module_toml: str | None = None, **extra: str) -> dict[str, str]:
    files = {
        "__init__.py": '__all__ = ("router",)\nfrom .router import router\n',
        "router.py": ROUTER.replace("NAME", name),
        "texts.py": 'BTN = "Кнопка"\nHELLO = "Привет!"\n',
        "settings.py": "# nothing to configure\n",
        "VERSION": version + "\n",
    }
    if module_toml is not None:
        files["module.toml"] = textwrap.dedent(module_toml)
    files.update(extra)
    return files


def zip_archive(files: dict[str, str | bytes], prefix: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(prefix + name, content)
    return out.getvalue()


def tar_archive(files: dict[str, str | bytes], prefix: str) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for name, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(prefix + name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def module_zip(name: str, version: str, **kwargs: Any) -> bytes:
    return zip_archive(module_files(name, version, **kwargs), f"modules/{name}/")  # type: ignore[arg-type]


def image_bytes(width: int, height: int, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (40, 90, 200)).save(out, fmt)
    return out.getvalue()


async def approved_developer(world: CatalogWorld, client: CatalogClient, tg_id: int, module: str) -> None:
    """Sign ``client`` in as ``tg_id``, apply for ``module`` and have a moderator approve it."""
    await client.sign_in(tg_id)
    await apply_and_approve(world, client, module)


async def apply_and_approve(world: CatalogWorld, client: CatalogClient, module: str) -> None:
    """The signed-in ``client`` applies for ``module``; a moderator approves it."""
    status, page = await client.post(
        "/apply",
        {
            "developer_name": "Разработчик",
            "contact": "@developer",
            "module_name": module,
            "summary": "Модуль для проверки каталога",
            "repository_url": "",
            "what_it_does": "Добавляет кнопку в профиль и показывает экран.",
        },
    )
    assert status == 200 and "отправлена" in page, page
    async with world.client() as moderator:
        await moderator.sign_in(MODERATOR, "Модератор")
        await moderator.get("/moderation")
        application = re.search(
            rf'id="application-{module}".*?action="/moderation/applications/(\d+)"', (await moderator.get("/moderation"))[1], re.S
        )
        assert application, "the application is not in the moderators' queue"
        status, page = await moderator.post(
            f"/moderation/applications/{application.group(1)}", {"decision": "approve", "reason": ""}
        )
        assert status == 200 and "одобрена" in page, page
