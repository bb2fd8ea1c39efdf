"""The demo's web chat: safe rendering of bot HTML, and a real headless Chromium talking to the bot.

The browser test runs the whole bot in-process (local Bot API, ``SolobotHost`` with hot reload,
hello_world in its sandboxed process) plus ``WebChat`` on a free port, and drives the page as a
person would: types ``/start``, opens the profile, presses the module's button, edits the
module's source and sees the new text without restarting the bot, switches users, restarts the
module from the side panel.

It needs Debian's ``chromium`` (``/usr/bin/chromium``; ``.ci/run`` installs it) and PyPI's
``playwright`` (the ``test`` extra); Playwright's own browser downloads are never used. When
either is missing the test fails and says how to install it: it is never skipped.
"""

from __future__ import annotations

import os
import shutil
import struct
import time
import zlib
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import anyio
import pytest

from handlers import texts as core_texts
from host.webchat import WebChat, telegram_html
from tests.conftest import fresh_database
from tests.shared_zygote import ThreadedZygote
from tests.solobot_harness import ADMIN_ID, Solobot, copy_modules, running_solobot, traversable_dir

# --- rendering: only Telegram's formatting survives ------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("<b>жирный</b> и <i>курсив</i>", "<b>жирный</b> и <i>курсив</i>"),
        ("<strong>a</strong><em>b</em><ins>c</ins><del>d</del>", "<b>a</b><i>b</i><u>c</u><s>d</s>"),
        ("<code>x &lt; y</code>", "<code>x &lt; y</code>"),
        ('<pre><code class="language-python">1</code></pre>', "<pre><code>1</code></pre>"),
        ("<tg-spoiler>тайна</tg-spoiler>", '<span class="tg-spoiler">тайна</span>'),
        ('<span class="tg-spoiler">тайна</span>', '<span class="tg-spoiler">тайна</span>'),
        ("<blockquote expandable>цитата</blockquote>", "<blockquote>цитата</blockquote>"),
        (
            '<a href="https://example.com/?a=1&amp;b=2">ссылка</a>',
            '<a href="https://example.com/?a=1&amp;b=2" target="_blank" rel="noopener noreferrer">ссылка</a>',
        ),
        ('<a href="javascript:alert(1)">x</a>', '<a class="nolink">x</a>'),
        ("<b>не закрыт", "<b>не закрыт</b>"),
        ("<b><i>вложенные</b></i>", "<b><i>вложенные</i></b>"),
        ("2 < 3 & 4 > 1", "2 &lt; 3 &amp; 4 &gt; 1"),
    ],
)
def test_telegram_formatting_is_kept(source: str, expected: str) -> None:
    assert telegram_html(source) == expected


@pytest.mark.parametrize(
    "attack",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        '<b onclick="alert(1)">x</b>',
        '<a href="https://x" onmouseover="alert(1)">x</a>',
        "<svg/onload=alert(1)>",
        "<iframe src=//evil></iframe>",
        "<!-- <script>alert(1)</script> -->",
        '<a href=" javascript:alert(1)">x</a>',
        "<style>body{display:none}</style>",
    ],
)
def test_anything_else_is_shown_as_text(attack: str) -> None:
    html = telegram_html(attack)
    tags = _tags(html)
    assert {tag for tag, _ in tags} <= {"b", "i", "u", "s", "code", "pre", "a", "blockquote", "span"}, html
    for _, attrs in tags:
        assert set(attrs) <= {"href", "target", "rel", "class"}, html
        assert (attrs.get("href") or "https://").startswith("https://"), html


def _tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    """Every element a browser would build from ``html``."""
    found: list[tuple[str, dict[str, str | None]]] = []

    class Collector(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found.append((tag, dict(attrs)))

    Collector().feed(html)
    return found


# --- the page in a real browser ---------------------------------------------------------------


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def chromium_executable() -> str:
    """Debian's Chromium; Playwright's own browser builds can't be downloaded on CI machines."""
    for candidate in (os.environ.get("SOLOBOT_CHROMIUM"), shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail(
        "Chromium is missing: the web chat's browser test needs Debian's chromium "
        "(`apt-get install -y chromium`, as .ci/run does) or SOLOBOT_CHROMIUM=/path/to/chromium"
    )


def tiny_png() -> bytes:
    """A 2×2 red PNG, so the test needs no image files or libraries."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * 2 for _ in range(2))
    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


@pytest.fixture
def browser_kit() -> tuple[Any, Any, str]:
    """Playwright and the browser, checked before the bot starts: a missing one fails at once, and says what to install."""
    try:
        from playwright.async_api import async_playwright, expect
    except ImportError:
        pytest.fail("playwright is missing: `pip install -e '.[test]'` brings it (the system chromium is used)")
    return async_playwright, expect, chromium_executable()


@pytest.fixture
async def bot_with_chat(pg_url: str, anyio_backend: str, shared_zygote: ThreadedZygote) -> AsyncIterator[tuple[Solobot, WebChat]]:
    with traversable_dir() as root:
        modules_dir = copy_modules(["hello_world"], root / "modules")
        async with (
            fresh_database(pg_url) as url,
            running_solobot(url, modules_dir, root, reload=True, zygote=shared_zygote) as bot,
            WebChat(bot.api, bot.host.runtime, port=0) as chat,
        ):
            yield bot, chat


async def wait_for(predicate: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await anyio.sleep(0.05)
    return value


@pytest.mark.anyio
@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_a_person_talks_to_the_bot_in_the_web_chat(
    browser_kit: tuple[Any, Any, str], bot_with_chat: tuple[Solobot, WebChat]
) -> None:
    async_playwright, expect, chromium = browser_kit
    bot, chat = bot_with_chat
    runtime = bot.host.runtime
    assert runtime is not None
    world = bot.api.world

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, headless=True)
        try:
            page = await browser.new_page(viewport={"width": 1100, "height": 800})
            page_errors: list[str] = []
            page.on("pageerror", lambda error: page_errors.append(str(error)))
            await page.goto(chat.url)
            messages = page.locator("#chat > li.msg")
            panel = page.locator('[data-module="hello_world"]')

            # The side panel lists the module, running, with its memory.
            await expect(panel).to_have_attribute("data-state", "running")
            await expect(panel.locator(".badge")).to_have_text("работает")
            await expect(panel).to_contain_text("МБ")

            # Type /start and press Enter, as a person would.
            box = page.get_by_role("textbox", name="Сообщение")
            await box.fill("/start")
            await box.press("Enter")
            await expect(page.locator("#chat")).to_contain_text("Добро пожаловать")
            await expect(messages.first).to_have_class("msg user")

            # Open the profile, then the module's button: the bot edits that message in place.
            await page.get_by_role("button", name="👤 Личный кабинет").click()
            await expect(page.locator("#chat")).to_contain_text("Профиль")
            count = await messages.count()
            await page.get_by_role("button", name="👋 Привет").click()
            await expect(messages.last).to_contain_text("Привет из модуля!")
            assert await messages.count() == count  # edited where it was, not sent anew
            await expect(messages.last.locator(".meta")).to_have_text("изменено")

            # Edit the module's source: hot reload swaps its process, the bot keeps running.
            old_pid = runtime.module_status("hello_world")["pid"]
            texts_py = bot.modules_dir / "hello_world" / "texts.py"
            texts_py.write_text(texts_py.read_text().replace("Привет из модуля!", "Привет из нового кода!"))
            await wait_for(
                lambda: (s := runtime.module_status("hello_world"))["state"] == "running" and s["pid"] not in (None, old_pid)
            )
            await expect(panel).to_contain_text(str(runtime.module_status("hello_world")["pid"]))
            await page.get_by_role("button", name="⬅️ Назад").click()
            await expect(messages.last).to_contain_text("Профиль")
            await page.get_by_role("button", name="👋 Привет").click()
            await expect(messages.last).to_contain_text("Привет из нового кода!")

            # What the bot may send: Telegram's formatting rendered, anything else shown as text;
            # photos from the world's files; URL buttons open a new tab; callback answers as toasts.
            png = world.store_file("photo", tiny_png())
            world.add_message(
                ADMIN_ID,
                world.bot,
                caption='<b>жирный</b> <img src=x onerror="window.pwned=1"><script>window.pwned=1</script>',
                parse_mode="HTML",
                photo=png,
                reply_markup={
                    "inline_keyboard": [
                        [{"text": "Сайт", "url": "https://example.com/"}],
                        [{"text": "Старая кнопка", "callback_data": "webchat|stale"}],
                    ]
                },
            )
            last = messages.last
            await expect(last.locator(".text b")).to_have_text("жирный")
            await expect(last.locator(".text")).to_contain_text("<script>window.pwned=1</script>")
            assert await last.locator(".text img, .text script").count() == 0
            assert await page.evaluate("window.pwned") is None
            image = last.locator("img")
            await expect(image).to_have_attribute("src", f"/api/files/{png.file_id}")
            await wait_for_image(page, image)
            link = last.get_by_role("link", name="Сайт (откроется в новой вкладке)")
            await expect(link).to_have_attribute("target", "_blank")
            await expect(link).to_have_attribute("href", "https://example.com/")
            await last.get_by_role("button", name="Старая кнопка").click()
            await expect(page.locator("#toasts")).to_contain_text(core_texts.STALE_BUTTON)

            # The user switcher: a regular user has a chat of their own.
            await page.get_by_role("button", name="Писать как Пользователь (id 1002)").click()
            await expect(page.locator("#chat")).to_contain_text("Напишите /start")
            await page.get_by_role("button", name="Отправить команду /start").click()
            await expect(page.locator("#chat")).to_contain_text("Добро пожаловать")
            assert "Привет из нового кода!" not in await page.locator("#chat").inner_text()
            await page.get_by_role("button", name=f"Писать как Администратор (id {ADMIN_ID})").click()
            await expect(page.locator("#chat")).to_contain_text("Привет из нового кода!")

            # The panel's buttons drive the runtime.
            pid = runtime.module_status("hello_world")["pid"]
            await page.get_by_role("button", name="Перезапустить модуль hello_world").click()
            await expect(page.locator("#toasts")).to_contain_text("hello_world: перезапущен")
            assert runtime.module_status("hello_world")["pid"] != pid
            await expect(panel).to_have_attribute("data-state", "running")

            assert page_errors == []
        finally:
            await browser.close()


async def wait_for_image(page: Any, image: Any) -> None:
    """The photo's bytes really came from the world's files: the browser decoded them."""
    handle = await image.element_handle()
    await page.wait_for_function("img => img.complete && img.naturalWidth === 2", arg=handle)
