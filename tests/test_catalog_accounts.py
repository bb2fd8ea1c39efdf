"""Accounts by Telegram identity: the Login Widget's hash, one-time login links confirmed in the
catalog's bot (real Bot API round trips on the local server), signed session cookies, API tokens.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import update
from yarl import URL

from catalog.accounts.sessions import COOKIE, SessionCodec, csrf_ok
from catalog.accounts.widget import WidgetError, check_widget, widget_hash
from catalog.db.models import LoginLink, utcnow
from tests.catalog_fixtures import CATALOG_BOT_TOKEN, CatalogWorld, catalog_world

pytestmark = pytest.mark.timeout(120)


def widget_fields(tg_id: int = 777, auth_date: int | None = None, **extra: str) -> dict[str, str]:
    fields = {
        "id": str(tg_id),
        "first_name": "Анна",
        "username": "anna",
        "auth_date": str(auth_date or int(time.time())),
        **extra,
    }
    return {**fields, "hash": widget_hash(fields, CATALOG_BOT_TOKEN)}


def test_the_widgets_answer_is_checked() -> None:
    identity = check_widget(widget_fields(), CATALOG_BOT_TOKEN)
    assert (identity.tg_id, identity.first_name, identity.username) == (777, "Анна", "anna")
    tampered = {**widget_fields(), "id": "778"}
    with pytest.raises(WidgetError, match="Подпись"):
        check_widget(tampered, CATALOG_BOT_TOKEN)
    with pytest.raises(WidgetError, match="Подпись"):
        check_widget(widget_fields(), "123:OTHER_BOT")
    with pytest.raises(WidgetError, match="устарел"):
        check_widget(widget_fields(auth_date=int(time.time()) - 2 * 86400), CATALOG_BOT_TOKEN)
    with pytest.raises(WidgetError):
        check_widget({"id": "1"}, CATALOG_BOT_TOKEN)


def test_session_cookies_are_signed() -> None:
    codec = SessionCodec("secret-one")
    cookie = codec.dump({"uid": 5, "csrf": "t"})
    assert codec.load(cookie) == ({"uid": 5, "csrf": "t"}, False)
    forged, fresh = SessionCodec("secret-two").load(cookie)
    assert fresh and forged["uid"] is None
    tampered, fresh = codec.load(cookie[:-2] + "xx")
    assert fresh and tampered["uid"] is None
    assert csrf_ok({"csrf": "abc"}, "abc") and not csrf_ok({"csrf": "abc"}, "abd") and not csrf_ok({"csrf": "abc"}, None)


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def world(pg_url: str, anyio_backend: str) -> AsyncIterator[CatalogWorld]:
    async with catalog_world(pg_url) as world:
        yield world


@pytest.mark.anyio
async def test_the_widget_callback_signs_in_and_a_forged_one_does_not(world: CatalogWorld) -> None:
    async with world.client() as browser:
        status, page = await browser.get("/auth/telegram", params={**widget_fields(4242), "id": "4243"})
        assert status == 403 and "Подпись" in page
        assert (await browser.get("/cabinet"))[1].count("Вход через Telegram") == 1  # still signed out
        status, page = await browser.get("/auth/telegram", params=widget_fields(4242))
        assert status == 200 and 'id="my-id">4242<' in page


@pytest.mark.anyio
async def test_a_login_link_works_once_and_only_when_confirmed(world: CatalogWorld) -> None:
    async with world.client() as browser, world.client() as thief:
        _, page = await browser.post("/login/link")
        assert "Подтвердите вход в боте" in page
        command = page.split('id="login-command">')[1].split("<")[0]
        nonce = command.removeprefix("/start login_")
        # Not confirmed yet: the waiting page again, not a session.
        _, page = await browser.get("/login/wait")
        assert "Подтвердите вход" in page
        user = world.api.user(5005, "Борис")
        await user.send(command)
        await user.wait_until(lambda u: any("✅ Подтвердить вход" in b for m in u.chat for b in m.buttons), timeout=10)
        await user.press("✅ Подтвердить вход")
        await user.wait_until(lambda u: "Вход подтверждён" in (u.last_message.text or ""), timeout=10)
        _, page = await browser.get("/login/wait")
        assert 'id="my-id">5005<' in page
        # Used up: the same nonce signs nobody else in.
        _, page = await thief.get(f"/login/link/{nonce}")
        assert "my-id" not in page
        # Opening the link again and confirming says it is used.
        await user.send(command)
        await user.wait_until(lambda u: any("✅ Подтвердить вход" in b for m in u.chat for b in m.buttons), timeout=10)
        await user.press("✅ Подтвердить вход")
        await user.wait_until(lambda u: "устарела или уже использована" in (u.last_message.text or ""), timeout=10)


@pytest.mark.anyio
async def test_an_expired_login_link_is_refused_in_the_bot(world: CatalogWorld) -> None:
    async with world.client() as browser:
        _, page = await browser.post("/login/link")
        command = page.split('id="login-command">')[1].split("<")[0]
        async with world.catalog.sessions.begin() as db:
            await db.execute(
                update(LoginLink).where(LoginLink.user_id.is_(None)).values(expires_at=utcnow() - timedelta(seconds=1))
            )
        user = world.api.user(5006, "Вера")
        await user.send(command)
        await user.wait_until(lambda u: any("✅ Подтвердить вход" in b for m in u.chat for b in m.buttons), timeout=10)
        await user.press("✅ Подтвердить вход")
        await user.wait_until(lambda u: "устарела" in (u.last_message.text or ""), timeout=10)
        _, page = await browser.get("/login/wait")
        assert "my-id" not in page


@pytest.mark.anyio
async def test_sign_out_and_revoked_tokens(world: CatalogWorld) -> None:
    async with world.client() as browser:
        await browser.sign_in(5007, "Галя")
        _, page = await browser.post("/cabinet/tokens", {"name": "ci"})
        token = page.split('id="new-token">')[1].split("<")[0]
        headers = {"Authorization": f"Bearer {token}"}
        async with browser.http.get("/api/v1/licences", headers=headers) as response:
            assert response.status == 200 and (await response.json())["user_id"] == 5007
        token_id = page.split('action="/cabinet/tokens/')[1].split("/")[0]
        _, page = await browser.post(f"/cabinet/tokens/{token_id}/revoke")
        assert "Токен отозван" in page
        async with browser.http.get("/api/v1/licences", headers=headers) as response:
            assert response.status == 401
        await browser.post("/logout")
        _, page = await browser.get("/cabinet")
        assert "Вход через Telegram" in page  # redirected to the login page
        assert browser.http.cookie_jar.filter_cookies(URL(world.url)).get(COOKIE) is not None
