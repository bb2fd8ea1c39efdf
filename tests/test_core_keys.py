"""Trial key through the panel interface, the key card and its buttons, renewal from the balance."""

from __future__ import annotations

import pytest
from aiogram.types import InlineKeyboardButton

from database import (
    async_session_maker,
    create_tariff,
    get_balance,
    get_key_by_email,
    get_keys,
    get_trial,
    set_user_balance,
)
from panels import get_panel
from tests.core_fixtures import callbacks, hooked, press, reply_with, running_core, send, shown

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


async def test_trial_key_card_and_buttons(db: str) -> None:
    created: list[dict] = []

    async def key_creation_complete(chat_id, admin, session, email, key_name, **kwargs):
        created.append({"chat_id": chat_id, "email": email, "key_name": key_name})
        return InlineKeyboardButton(text="🎁 Бонус", callback_data=f"bonus|{email}")

    async def view_key_menu(key_name, session, **kwargs):
        return [{"remove": f"connect_tv|{key_name}"}, {"button": InlineKeyboardButton(text="📺 Happ TV", callback_data="happ")}]

    with hooked("key_creation_complete", key_creation_complete):
        async with running_core() as core:
            user = core.user(6001, "Petr")
            stale = await send(user, "/start", "Добро пожаловать")  # its trial button is pressed later, once used
            await send(user, "/start", "Добро пожаловать")
            done = await press(user, "create_key", "Подписка создана")
            assert "https://sub.local/" in shown(done)
            email = created[0]["email"]
            assert created == [{"chat_id": 6001, "email": email, "key_name": email}]
            assert callbacks(done) == [f"view_key|{email}", f"bonus|{email}", "profile"]

            card = await press(user, f"view_key|{email}", f"Подписка {email}")
            assert card.photo_file_id is not None  # img/pic_view.jpg
            assert f"connect_tv|{email}" in callbacks(card) and f"renew_key|{email}" in callbacks(card)
            assert callbacks(card)[-1] == "view_keys"

            tv = await press(user, f"connect_tv|{email}", "телевизоре")
            assert "https://sub.local/" in shown(tv) and callbacks(tv) == [f"view_key|{email}"]

            with hooked("view_key_menu", view_key_menu):
                card = await press(user, f"view_key|{email}", f"Подписка {email}")
                assert f"connect_tv|{email}" not in callbacks(card) and "happ" in callbacks(card)

            # The trial is single-use: the start menu drops the button; a stale press opens the
            # tariff list instead (upstream: create_key is "buy" once the trial is used).
            await send(user, "/start", "Добро пожаловать")
            assert "create_key" not in callbacks(user.last_message)
            await user.press("create_key", message_id=stale.message_id)
            await reply_with(user, "Выберите тариф")

            listing = await press(user, "view_keys", "Мои подписки")
            assert f"view_key|{email}" in callbacks(listing)

    async with async_session_maker() as session:
        keys = await get_keys(session, 6001)
        assert [k.email for k in keys] == [email] and await get_trial(session, 6001) == 1
        assert keys[0].client_id in get_panel().clients  # issued through the panel


async def test_renewal_pays_from_balance(db: str) -> None:
    async with async_session_maker() as session:
        tariff = await create_tariff(session, {"name": "1 месяц", "group_code": "base", "duration_days": 30, "price_rub": 150})
    async with running_core() as core:
        user = core.user(6101, "Vera")
        await send(user, "/start", "Добро пожаловать")
        done = await press(user, "create_key", "Подписка создана")
        email = done.keyboard[0][0][1].split("|")[1]
        async with async_session_maker() as session:
            before = (await get_key_by_email(session, email)).expiry_time
            await set_user_balance(session, 6101, 200)

        await press(user, f"view_key|{email}", f"Подписка {email}")
        choose = await press(user, f"renew_key|{email}", "Продление подписки")
        # A trial key renews with the tariffs of its cluster's group ("standard", seeded), not "base".
        assert f"renew_plan|{tariff['id']}|{email}" not in callbacks(choose)
        standard = [data for data in callbacks(choose) if data and data.startswith("renew_plan|")]
        assert len(standard) == 1
        renewed = await press(user, standard[0], "продлена")
        assert callbacks(renewed) == [f"view_key|{email}"]

    async with async_session_maker() as session:
        key = await get_key_by_email(session, email)
        assert key.expiry_time == before + 30 * 86_400_000 and key.tariff_id == int(standard[0].split("|")[1])
        assert await get_balance(session, 6101) == 50
