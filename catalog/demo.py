"""The catalog in ``solobot demo``: a local catalog with an example developer and module, ready to sign in to.

    async with demo_catalog(database_url, data_dir, moderator_id=1) as demo:
        print(demo.url, demo.developer_link, demo.moderator_link)

Its database lives on the demo's embedded PostgreSQL server (database ``solobot_catalog``), its
login bot on a second local Bot API server; the example developer's module (the project's
``hello_world``, version 1.0.0, with a 16:9 image) is applied for, approved and uploaded through
the catalog's own code paths once — checked and started in the sandbox like any upload — and
kept across runs. Sign-in links for the developer and the moderator are confirmed through the
catalog's bot by simulated users and printed, so a browser opens the catalog already signed in.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from .accounts.login_links import create_link
from .accounts.store import sign_in
from .accounts.widget import TelegramIdentity
from .applications.service import ApplicationForm, decide, submit
from .config import CatalogSettings
from .context import CatalogContext
from .db.models import Module
from .releases.service import set_image, update_text, upload_release
from .server import running_catalog

CATALOG_BOT_TOKEN = "7000000:CATALOG_DEMO"
DEVELOPER = TelegramIdentity(1003, "Разработчик", "example_dev")
EXAMPLE = "hello_world"
DATABASE = "solobot_catalog"
PROJECT_MODULES = Path(__file__).resolve().parent.parent / "modules"
DESCRIPTION = """\
## Привет из модуля

Минимальный модуль из руководства: кнопка **«👋 Привет»** в профиле после «Баланса».

- без настроек и таблиц;
- хорошая отправная точка: `solobot modules new my_module`.
"""


@dataclass
class DemoCatalog:
    url: str
    public_key: str
    developer_link: str
    moderator_link: str


async def ensure_database(owner_url: str, name: str = DATABASE) -> str:
    """A database ``name`` on the server of ``owner_url`` (created when missing); its URL."""
    engine = create_async_engine(owner_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            exists = await conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name})
            if not exists:
                await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await engine.dispose()
    return make_url(owner_url).set(database=name).render_as_string(hide_password=False)


def folder_zip(folder: Path, name: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, f"modules/{name}/{path.relative_to(folder).as_posix()}")
    return out.getvalue()


def example_image() -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (1280, 720), (36, 54, 79))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((390, 260, 890, 460), radius=40, fill=(47, 111, 222))
    draw.text((560, 345), "hello_world", fill=(255, 255, 255))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


async def seed_example(catalog: CatalogContext, moderator_id: int) -> None:
    """The example developer with an approved ``hello_world`` and its release 1.0.0 (once)."""
    async with catalog.sessions.begin() as db:
        if await db.get(Module, EXAMPLE) is not None:
            return
        await sign_in(db, DEVELOPER)
        await sign_in(db, TelegramIdentity(moderator_id, "Модератор", None))
        form = ApplicationForm(
            "Пример разработчика", "@example_dev", EXAMPLE, "Кнопка «Привет» в профиле — пример из руководства", "",
            "Показывает, как модуль добавляет кнопку в профиль и свой экран.",
        )  # fmt: skip
        application, problems = await submit(db, DEVELOPER.tg_id, form)
        assert application is not None, problems
        await decide(db, application.id, moderator_id, True, "пример для демо")
    print(f"catalog: checking the example module {EXAMPLE} 1.0.0 (archive, checker, sandboxed start)…", flush=True)
    async with catalog.sessions.begin() as db:
        data = folder_zip(PROJECT_MODULES / EXAMPLE, EXAMPLE)
        outcome = await upload_release(
            db, catalog.storage, catalog.checker, catalog.signer, EXAMPLE, DEVELOPER.tg_id, data, "Первая версия"
        )
        if outcome.release is None:
            print(f"catalog: the example release was refused: {outcome.refusal or outcome.report.errors}")
        await update_text(db, EXAMPLE, DEVELOPER.tg_id, summary=form.summary, description=DESCRIPTION, paid=False)
        await set_image(db, catalog.storage, catalog.settings.limits, EXAMPLE, DEVELOPER.tg_id, example_image(), "cover.png")


async def confirmed_link(catalog: CatalogContext, api: object, url: str, identity: TelegramIdentity) -> str:
    """A one-time sign-in link, confirmed in the catalog's bot by a simulated ``identity``."""
    async with catalog.sessions.begin() as db:
        nonce = await create_link(db)
    user = api.user(identity.tg_id, identity.first_name, identity.username)  # type: ignore[attr-defined]
    await user.send(f"/start login_{nonce}")
    await user.wait_until(lambda u: any("✅ Подтвердить вход" in b for m in u.chat for b in m.buttons), timeout=15)
    await user.press("✅ Подтвердить вход")
    await user.wait_until(lambda u: "Вход подтверждён" in (u.last_message.text or ""), timeout=15)
    return f"{url}/login/link/{nonce}"


@asynccontextmanager
async def demo_catalog(
    owner_url: str, data_dir: Path, *, moderator_id: int, host: str = "127.0.0.1", port: int = 8100
) -> AsyncIterator[DemoCatalog]:
    from local_bot_api import LocalBotAPI

    async with AsyncExitStack() as stack:
        api = await stack.enter_async_context(LocalBotAPI(token=CATALOG_BOT_TOKEN, bot_username="solobot_catalog_demo_bot"))
        settings = CatalogSettings(
            data_dir=Path(data_dir) / "catalog",
            database_url=await ensure_database(owner_url),
            admin_ids=frozenset({moderator_id}),
            bot_token=api.token,
            telegram_api_url=api.base_url,
            host=host,
            port=port,
        )
        try:
            running = await stack.enter_async_context(running_catalog(settings))
        except OSError:
            settings = replace(settings, port=0)  # the port is taken: any free one (the URL is printed)
            running = await stack.enter_async_context(running_catalog(settings))
        await seed_example(running.catalog, moderator_id)
        yield DemoCatalog(
            running.url,
            running.catalog.signer.public_key_text,
            await confirmed_link(running.catalog, api, running.url, DEVELOPER),
            await confirmed_link(running.catalog, api, running.url, TelegramIdentity(moderator_id, "Модератор", None)),
        )
