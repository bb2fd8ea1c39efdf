"""The catalog over real HTTP: pages, moderation, uploads, licences, the JSON API, CSRF and ownership.

One catalog (PostgreSQL database, login bot on the local Bot API server) serves the whole file;
each test uses its own developers and module names, so the tests do not depend on each other's order.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest

from catalog.verify import load_public_key, verify_index
from tests.catalog_fixtures import CatalogWorld, approved_developer, catalog_world, image_bytes, module_zip

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def world(pg_url: str, anyio_backend: str) -> AsyncIterator[CatalogWorld]:
    async with catalog_world(pg_url) as world:
        yield world


async def test_seed_flow_over_http(world: CatalogWorld) -> None:
    async with world.client() as dev:
        await approved_developer(world, dev, 1101, "weather_widget")
        status, page = await dev.get("/cabinet")
        assert "Управление модулями" in page and "одобрена" in page
        status, page = await dev.post(
            "/manage/weather_widget/releases",
            {"changelog": "первая"},
            files={"archive": ("m.zip", module_zip("weather_widget", "1.0.0"))},
        )
        assert status == 201, page
        assert "Версия 1.0.0 принята" in page
        status, page = await dev.post(
            "/manage/weather_widget/releases", files={"archive": ("m.zip", module_zip("weather_widget", "1.0.0"))}
        )
        assert status == 422 and "не больше загруженной 1.0.0" in page
        status, page = await dev.post("/manage/weather_widget/image", files={"image": ("a.png", image_bytes(1280, 720))})
        assert "Изображение сохранено" in page
        status, page = await dev.post("/manage/weather_widget/image", files={"image": ("b.png", image_bytes(1024, 768))})
        assert "не 16:9" in page
        status, page = await dev.post(
            "/manage/weather_widget/text",
            {"summary": "Погода в профиле", "description": "# Погода\n<script>alert(1)</script>", "paid": "on"},
        )
        assert "Описание сохранено" in page
        status, page = await dev.get("/modules/weather_widget")
        assert "<script>alert(1)" not in page and "&lt;script&gt;" in page and "<h1>Погода</h1>" in page
        status, page = await dev.post("/manage/weather_widget/licences", {"user_id": "5551", "bot_id": "", "not_after": ""})
        assert "выдана пользователю 5551" in page
        licence_id = re.search(r"<code>(lic_[0-9a-f]+)</code>", page).group(1)

    async with world.client() as buyer:
        await buyer.sign_in(5551, "Покупатель")
        status, page = await buyer.get("/cabinet")
        assert licence_id in page and "действует" in page

    async with world.client() as api:
        async with api.http.get("/api/v1/index") as response:
            envelope = await response.json()
            etag = response.headers["ETag"]
        async with api.http.get("/api/v1/index", headers={"If-None-Match": etag}) as response:
            assert response.status == 304
        key = load_public_key(world.catalog.signer.public_key_text)
        index = verify_index(envelope, key)
        assert index.latest("weather_widget").version == "1.0.0"
        assert index.modules["weather_widget"]["paid"] is True
