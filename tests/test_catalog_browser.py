"""The seed's flow in a real browser (Playwright driving Debian's Chromium, as the web chat's test does):
sign in → «Подать заявку» → a moderator approves → «Управление модулями» appears → upload 1.0.0 with a
16:9 image → a 4:3 image and a re-upload of 1.0.0 are refused with clear messages → update the
description → upload 1.1.0 → issue a licence to a user ID → that user sees it in their cabinet → revoke it.

Everything is real: the catalog on PostgreSQL, its login bot on the local Bot API server (the person
confirms each sign-in in the bot), every upload checked and started in a sandboxed module process.
The developer's pages are used on a phone-sized screen and must not scroll sideways.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.catalog_fixtures import MODERATOR, CatalogWorld, catalog_world, image_bytes, module_zip
from tests.test_webchat import chromium_executable

pytestmark = [pytest.mark.anyio, pytest.mark.slow, pytest.mark.timeout(300)]
DEVELOPER, BUYER = 424242, 777001
PHONE = {"width": 390, "height": 844}
START_CHECK_WAIT = 120_000  # ms: the upload is started in a sandboxed process before the page answers


@pytest.fixture
def browser_kit() -> tuple[Any, Any, str]:
    try:
        from playwright.async_api import async_playwright, expect
    except ImportError:
        pytest.fail("playwright is missing: `pip install -e '.[test]'` brings it (the system chromium is used)")
    return async_playwright, expect, chromium_executable()


@pytest.fixture
async def world(pg_url: str, anyio_backend: str) -> AsyncIterator[CatalogWorld]:
    async with catalog_world(pg_url, start_check=True) as world:
        yield world


async def sign_in(page: Any, expect: Any, world: CatalogWorld, tg_id: int, name: str) -> None:
    """Press «Войти через бота», confirm in the catalog's bot as the person would; the page signs in by itself."""
    await page.goto(world.url + "/login")
    await page.get_by_role("button", name=re.compile("Войти через бота")).click()
    command = await page.locator("#login-command").text_content()
    user = world.api.user(tg_id, name)
    await user.send(command)
    await user.wait_until(lambda u: any("✅ Подтвердить вход" in b for m in u.chat for b in m.buttons), timeout=10)
    await user.press("✅ Подтвердить вход")
    await expect(page.locator("#my-id")).to_have_text(str(tg_id), timeout=15_000)  # the waiting page refreshes itself


async def fits_the_screen(page: Any) -> bool:
    return await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


async def upload(page: Any, path: str, name: str, data: bytes, mime: str) -> None:
    await page.locator(path).set_input_files(files=[{"name": name, "mimeType": mime, "buffer": data}])


async def test_the_seed_flow_in_a_browser(browser_kit: tuple[Any, Any, str], world: CatalogWorld) -> None:
    async_playwright, expect, chromium = browser_kit
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, headless=True)
        try:
            developer = await (await browser.new_context(viewport=PHONE, is_mobile=True)).new_page()
            developer.set_default_timeout(START_CHECK_WAIT)  # a click that uploads waits for the checked answer
            errors: list[str] = []
            developer.on("pageerror", lambda error: errors.append(str(error)))

            # Sign in, «Подать заявку».
            await sign_in(developer, expect, world, DEVELOPER, "Разработчик")
            await expect(developer.get_by_role("navigation").get_by_role("link", name="Управление модулями")).to_have_count(0)
            await developer.get_by_role("navigation").get_by_role("link", name="Подать заявку").click()
            await developer.get_by_label("Имя разработчика").fill("Иван Петров")
            await developer.get_by_label("Контакт").fill("@ivan_dev")
            await developer.get_by_label("Имя модуля").fill("weather_now")
            await developer.get_by_label("Краткое описание").fill("Погода в личном кабинете")
            await developer.get_by_label("Что делает модуль").fill("Добавляет кнопку «Погода» в профиль и показывает прогноз.")
            await developer.get_by_role("button", name="Отправить заявку").click()
            await expect(developer.locator(".flash")).to_contain_text("Заявка на модуль «weather_now» отправлена")
            await expect(developer.locator("#my-applications")).to_contain_text("на рассмотрении")
            assert await fits_the_screen(developer)

            # A moderator approves it.
            moderator = await (await browser.new_context()).new_page()
            await sign_in(moderator, expect, world, MODERATOR, "Модератор")
            await moderator.get_by_role("link", name="Модерация").click()
            card = moderator.locator("#application-weather_now")
            await expect(card).to_contain_text("Иван Петров")
            await card.get_by_role("button", name="Одобрить").click()
            await expect(moderator.locator(".flash")).to_contain_text("Заявка «weather_now» одобрена")

            # «Управление модулями» appears for the developer.
            await developer.reload()
            await expect(developer.locator("#my-applications")).to_contain_text("одобрена")
            await developer.get_by_role("navigation").get_by_role("link", name="Управление модулями").click()
            await developer.get_by_role("link", name="weather_now").click()
            await expect(developer.get_by_role("heading", name="Управление модулем weather_now")).to_be_visible()
            assert await fits_the_screen(developer)

            # Upload 1.0.0: checked, started in the sandbox, published.
            await upload(
                developer, "#archive-file", "weather_now-1.0.0.zip", module_zip("weather_now", "1.0.0"), "application/zip"
            )
            await developer.get_by_label("Что изменилось").fill("Первая версия")
            await developer.get_by_role("button", name="Проверить и загрузить").click()
            await expect(developer.locator("#upload-verdict")).to_have_text("Версия 1.0.0 принята", timeout=START_CHECK_WAIT)
            await expect(developer.locator(".report")).to_contain_text("Запуск в песочнице: пройдено")
            await expect(developer.locator(".report")).to_contain_text("running")
            await developer.get_by_role("link", name=re.compile("к модулю weather_now")).click()

            # A 16:9 image is taken; a 4:3 one is refused, saying what is expected.
            await upload(developer, "#image-file", "cover.png", image_bytes(1280, 720), "image/png")
            await developer.get_by_role("button", name="Загрузить изображение").click()
            await expect(developer.locator(".flash")).to_have_text("Изображение сохранено.")
            await expect(developer.locator("#module-image")).to_be_visible()
            await upload(developer, "#image-file", "old.png", image_bytes(1024, 768), "image/png")
            await developer.get_by_role("button", name="Загрузить изображение").click()
            await expect(developer.locator(".flash.error")).to_contain_text("Пропорции 1024×768 — не 16:9")
            await expect(developer.locator(".flash.error")).to_contain_text("например, 1280×720 или 1920×1080")

            # A re-upload of 1.0.0 is refused: releases are immutable.
            await upload(developer, "#archive-file", "again.zip", module_zip("weather_now", "1.0.0"), "application/zip")
            await developer.get_by_role("button", name="Проверить и загрузить").click()
            await expect(developer.locator("#upload-verdict")).to_have_text("Версия не принята", timeout=START_CHECK_WAIT)
            await expect(developer.locator("#upload-refusal")).to_contain_text("Версия 1.0.0 не больше загруженной 1.0.0")
            await developer.get_by_role("link", name=re.compile("к модулю weather_now")).click()

            # Update the description (Markdown; script is neutralised) and make the module paid.
            await developer.get_by_label("Описание (Markdown)").fill(
                "## Погода\n\nПрогноз **на сегодня**.\n\n<script>alert('x')</script>"
            )
            await developer.get_by_label("Платный модуль").check()
            await developer.get_by_role("button", name="Сохранить описание").click()
            await expect(developer.locator(".flash")).to_have_text("Описание сохранено.")

            # Upload 1.1.0.
            await upload(
                developer, "#archive-file", "weather_now-1.1.0.tar.gz", module_zip("weather_now", "1.1.0"), "application/zip"
            )
            await developer.get_by_role("button", name="Проверить и загрузить").click()
            await expect(developer.locator("#upload-verdict")).to_have_text("Версия 1.1.0 принята", timeout=START_CHECK_WAIT)
            await developer.get_by_role("link", name=re.compile("к модулю weather_now")).click()
            await expect(developer.locator("#release-list")).to_contain_text("1.1.0")
            await expect(developer.locator("#release-list")).to_contain_text("1.0.0")

            # The public page shows the rendered description, no script.
            visitor = await (await browser.new_context(viewport=PHONE)).new_page()
            await visitor.goto(world.url + "/modules/weather_now")
            await expect(visitor.get_by_role("heading", name="Погода")).to_be_visible()
            await expect(visitor.locator(".description strong")).to_have_text("на сегодня")
            await expect(visitor.locator(".description script")).to_have_count(0)
            assert await fits_the_screen(visitor)

            # Issue a licence to a user ID.
            await developer.get_by_label("Telegram ID покупателя").fill(str(BUYER))
            await developer.get_by_role("button", name="Выдать лицензию").click()
            await expect(developer.locator(".flash")).to_contain_text(f"выдана пользователю {BUYER}")
            licence_id = re.search(r"lic_[0-9a-f]+", await developer.locator(".flash").text_content()).group(0)

            # That user sees it in their cabinet.
            buyer = await (await browser.new_context(viewport=PHONE, is_mobile=True)).new_page()
            await sign_in(buyer, expect, world, BUYER, "Покупатель")
            row = buyer.locator("#my-licences tr", has_text=licence_id)
            await expect(row).to_contain_text("weather_now")
            await expect(row).to_contain_text("действует")

            # Revoke it: the buyer's cabinet says so.
            await developer.locator("#licence-list tr", has_text=licence_id).get_by_role("button", name="Отозвать").click()
            await expect(developer.locator(".flash")).to_contain_text(f"Лицензия {licence_id} отозвана")
            await buyer.reload()
            await expect(buyer.locator("#my-licences tr", has_text=licence_id)).to_contain_text("отозвана")
            assert errors == []
        finally:
            await browser.close()
