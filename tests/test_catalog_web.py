"""The catalog over real HTTP: pages, moderation, uploads, licences, the JSON API, CSRF and ownership.

One catalog (PostgreSQL database, login bot on the local Bot API server) serves the whole file;
each test uses its own developers and module names, so the tests do not depend on each other's order.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator

import pytest

from catalog.verify import VerificationError, load_public_key, verify_archive, verify_index, verify_licence, verify_revocations
from tests.catalog_fixtures import (
    MODERATOR,
    CatalogWorld,
    apply_and_approve,
    approved_developer,
    catalog_world,
    image_bytes,
    module_files,
    module_zip,
    zip_archive,
)

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
        stored = world.catalog.storage.count()
        status, page = await dev.post("/manage/weather_widget/image", files={"image": ("b.png", image_bytes(1024, 768))})
        assert "не 16:9" in page
        status, page = await dev.post("/manage/weather_widget/image", files={"image": ("c.svg", b"<svg onload=alert(1)/>")})
        assert "SVG не принимается" in page
        assert world.catalog.storage.count() == stored  # refused images leave nothing behind
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


async def test_forms_without_their_csrf_token_are_refused(world: CatalogWorld) -> None:
    async with world.client() as dev:
        await approved_developer(world, dev, 1201, "csrf_target")
        status, page = await dev.post(
            "/manage/csrf_target/text", {"summary": "Подменённое описание", "description": "x"}, csrf=False
        )
        assert status == 403 and "CSRF" in page
        status, page = await dev.post(
            "/manage/csrf_target/text", {"csrf": "forged", "summary": "Подменённое описание", "description": "x"}, csrf=False
        )
        assert status == 403
        status, page = await dev.post("/apply", {"module_name": "sneaky"}, csrf=False)
        assert status == 403
        _, page = await dev.get("/modules/csrf_target")
        assert "Подменённое" not in page


async def test_another_developers_module_is_out_of_reach(world: CatalogWorld) -> None:
    async with world.client() as owner, world.client() as other:
        await approved_developer(world, owner, 1301, "owned_module")
        await approved_developer(world, other, 1302, "others_module")
        await owner.post("/manage/owned_module/text", {"summary": "Модуль владельца", "description": "оригинал", "paid": "on"})
        before = world.catalog.storage.count()
        attempts = [
            ("/manage/owned_module/text", {"summary": "Захвачено чужим", "description": "взлом"}, None),
            ("/manage/owned_module/releases", {}, {"archive": ("m.zip", module_zip("owned_module", "9.0.0"))}),
            ("/manage/owned_module/image", {}, {"image": ("a.png", image_bytes(1280, 720))}),
            ("/manage/owned_module/licences", {"user_id": "1302"}, None),
            ("/manage/owned_module/releases/1.0.0/yank", {"reason": "x"}, None),
        ]
        for path, data, files in attempts:
            status, _ = await other.post(path, data, files=files)
            assert status == 404, path
        status, _ = await other.get("/manage/owned_module")
        assert status == 404
        assert world.catalog.storage.count() == before
        _, page = await owner.get("/manage/owned_module")
        assert "Захвачено" not in page and "1302" not in page
        # The moderation pages are not for developers.
        assert (await other.get("/moderation"))[0] == 404
        assert (await other.get("/moderation/audit"))[0] == 404


@pytest.mark.parametrize(
    ("archive", "message"),
    [
        (zip_archive({**module_files("hostile", "1.0.0"), "../../escape.py": "x"}, "modules/hostile/"), "«..»"),
        (zip_archive({**module_files("hostile", "1.0.0"), "zeros.bin": b"\0" * 30_000_000}, "modules/hostile/"), "больше"),
        (
            zip_archive({**module_files("hostile", "1.0.0"), "router.py": "import os\nos.system('id')\n"}, "modules/hostile/"),
            "SB001",
        ),
        (module_zip("hostile", "one"), "семантическому"),
        (
            zip_archive({k: v for k, v in module_files("hostile", "1.0.0").items() if k != "router.py"}, "modules/hostile/"),
            "router.py",
        ),
    ],
    ids=["zip-slip", "zip-bomb", "checker-error", "bad-version", "layout"],
)
async def test_hostile_uploads_are_refused_and_nothing_is_stored(world: CatalogWorld, archive: bytes, message: str) -> None:
    async with world.client() as dev:
        await dev.sign_in(1401)
        if (await dev.get("/manage/hostile"))[0] == 404:
            await apply_and_approve(world, dev, "hostile")
        before = world.catalog.storage.count()
        status, page = await dev.post("/manage/hostile/releases", files={"archive": ("m.zip", archive)})
        assert status == 422 and message in page, page
        assert "Версия не принята" in page
        assert world.catalog.storage.count() == before
        _, manage = await dev.get("/manage/hostile")
        assert "Версий пока нет" in manage


async def test_api_tokens_uploads_licences_yanks_and_revocations(world: CatalogWorld) -> None:
    key = load_public_key(world.catalog.signer.public_key_text)
    async with world.client() as dev:
        await approved_developer(world, dev, 1501, "ci_module")
        await dev.post("/manage/ci_module/text", {"summary": "Модуль из CI разработчика", "description": "", "paid": "on"})
        _, page = await dev.post("/cabinet/tokens", {"name": "ci"})
        token = re.search(r'id="new-token">([^<]+)<', page).group(1)
        _, again = await dev.get("/cabinet")
        assert token not in again  # shown once
        headers = {"Authorization": f"Bearer {token}", "X-Changelog": "из CI"}
        async with dev.http.post(
            "/api/v1/modules/ci_module/releases", data=module_zip("ci_module", "0.1.0"), headers=headers
        ) as response:
            assert response.status == 201, await response.text()
            assert (await response.json())["status"] == "published"
        async with dev.http.post(
            "/api/v1/modules/ci_module/releases", data=module_zip("ci_module", "0.1.0"), headers=headers
        ) as response:
            assert response.status == 422 and "не больше" in (await response.json())["refusal"]
        async with dev.http.post(
            "/api/v1/modules/weather_widget/releases", data=module_zip("weather_widget", "5.0.0"), headers=headers
        ) as response:
            assert response.status == 404  # somebody else's module (or none)
        async with dev.http.post(
            "/api/v1/modules/ci_module/releases", data=b"x", headers={"Authorization": "Bearer sbc_wrong"}
        ) as response:
            assert response.status == 401

        # A new permission request waits for a moderator; the index does not list it meanwhile.
        grown = module_zip("ci_module", "0.2.0", module_toml='[request]\nnetwork = true\nreason.network = "calls an API"\n')
        async with dev.http.post("/api/v1/modules/ci_module/releases", data=grown, headers=headers) as response:
            body = await response.json()
            assert response.status == 201 and body["status"] == "awaiting_moderation" and "network" in body["moderation"]
        index = verify_index(json.loads(await (await dev.http.get("/api/v1/index")).read()), key)
        assert [r["version"] for r in index.modules["ci_module"]["releases"]] == ["0.1.0"]
        async with world.client() as moderator:
            await moderator.sign_in(MODERATOR, "Модератор")
            _, queue = await moderator.get("/moderation")
            release_id = re.search(r'action="/moderation/releases/(\d+)"', queue).group(1)
            _, queue = await moderator.post(f"/moderation/releases/{release_id}", {"decision": "approve", "reason": "нужен API"})
            assert "ci_module 0.2.0: опубликован" in queue
        seen = index.version
        index = verify_index(json.loads(await (await dev.http.get("/api/v1/index")).read()), key, seen_version=seen)
        assert index.version > seen and index.latest("ci_module").version == "0.2.0"

        # Yank 0.2.0: new installs get 0.1.0 again; the download stays for existing installs.
        _, page = await dev.post("/manage/ci_module/releases/0.2.0/yank", {"reason": "ошибка"})
        assert "отозвана" in page
        index = verify_index(json.loads(await (await dev.http.get("/api/v1/index")).read()), key, seen_version=index.version)
        assert index.latest("ci_module").version == "0.1.0"
        release = index.release("ci_module", "0.2.0")
        assert release.yanked
        async with dev.http.get("/api/v1/modules/ci_module/releases/0.2.0/download") as response:
            verify_archive(await response.read(), release)

        # Licences: issued to a user and a bot, fetched by the buyer's own token, verified offline, revoked.
        _, page = await dev.post("/manage/ci_module/licences", {"user_id": "1502", "bot_id": "42", "not_after": "2099-01-01"})
        licence_id = re.search(r"Лицензия (lic_[0-9a-f]+) выдана", page).group(1)
    async with world.client() as buyer:
        await buyer.sign_in(1502, "Покупатель")
        _, page = await buyer.post("/cabinet/tokens", {"name": "bot"})
        buyer_token = re.search(r'id="new-token">([^<]+)<', page).group(1)
        async with buyer.http.get("/api/v1/licences", headers={"Authorization": f"Bearer {buyer_token}"}) as response:
            licences = (await response.json())["licences"]
        token = next(item["token"] for item in licences if item["licence_id"] == licence_id)
        assert verify_licence(token, key, module="ci_module", user_ids=[1502], bot_id=42).licence_id == licence_id
    async with world.client() as dev:
        await dev.sign_in(1501)
        _, page = await dev.post(f"/manage/ci_module/licences/{licence_id}/revoke")
        assert f"Лицензия {licence_id} отозвана" in page
        revocations = verify_revocations(json.loads(await (await dev.http.get("/api/v1/revocations")).read()), key)
        assert licence_id in revocations.ids
        with pytest.raises(VerificationError, match="revoked"):
            verify_licence(token, key, module="ci_module", user_ids=[1502], bot_id=42, revoked=revocations.ids)

    async with world.client() as moderator:
        await moderator.sign_in(MODERATOR, "Модератор")
        _, audit = await moderator.get("/moderation/audit")
        for action in (
            "application.approve",
            "release.upload",
            "release.approve",
            "release.yank",
            "licence.issue",
            "licence.revoke",
            "token.create",
        ):
            assert action in audit, action


async def test_confusable_names_are_refused_in_the_application_form(world: CatalogWorld) -> None:
    async with world.client() as first, world.client() as second:
        await approved_developer(world, first, 1601, "top_referrers")
        await second.sign_in(1602)
        for name, message in (("top_referrers", "уже занято"), ("top_referers", "легко спутать"), ("Top_Referrers", "строчные")):
            form = {"developer_name": "Dev", "contact": "@dev", "module_name": name, "summary": "Подражатель чужого модуля"}
            status, page = await second.post(
                "/apply", {**form, "repository_url": "", "what_it_does": "Тот же модуль, но не тот."}
            )
            assert status == 422 and message in page, name


async def test_a_module_that_changes_hands_is_moderated_and_suspensions_hold(world: CatalogWorld) -> None:
    key = load_public_key(world.catalog.signer.public_key_text)
    async with world.client() as seller, world.client() as buyer, world.client() as moderator:
        await approved_developer(world, seller, 1701, "sold_module")
        status, _ = await seller.post(
            "/manage/sold_module/releases", files={"archive": ("m.zip", module_zip("sold_module", "1.0.0"))}
        )
        assert status == 201
        await buyer.sign_in(1702, "Новый владелец")
        await moderator.sign_in(MODERATOR, "Модератор")
        _, page = await moderator.post("/moderation/modules/sold_module/transfer", {"owner_id": "1702"})
        assert "Модуль передан 1702" in page
        # The old owner lost it; the new owner's first release waits for a moderator.
        assert (await seller.get("/manage/sold_module"))[0] == 404
        status, page = await buyer.post(
            "/manage/sold_module/releases", files={"archive": ("m.zip", module_zip("sold_module", "1.1.0"))}
        )
        assert status == 201 and "ждёт модератора" in page and "сменил владельца" in page
        index = verify_index(json.loads(await (await buyer.http.get("/api/v1/index")).read()), key)
        assert index.latest("sold_module").version == "1.0.0"

        # A suspended module leaves the index; a suspended person cannot act any more.
        _, page = await moderator.post("/moderation/modules/sold_module/suspend")
        assert "Модуль sold_module приостановлен" in page
        index = verify_index(json.loads(await (await buyer.http.get("/api/v1/index")).read()), key)
        assert "sold_module" not in index.modules
        _, page = await moderator.post("/moderation/accounts/suspend", {"user_id": "1702"})
        assert "Аккаунт 1702 приостановлен" in page
        _, page = await buyer.get("/manage/sold_module")
        assert "Вход через Telegram" in page  # signed out: the session no longer counts
        _, audit = await moderator.get("/moderation/audit")
        for action in ("module.transfer", "module.suspend", "account.suspend"):
            assert action in audit
