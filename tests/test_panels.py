"""Real VPN panel clients (issue 11, item 5): upstream's ``panels.remnawave`` and ``panels._3xui``
against local servers that follow each panel's public API, and the core creating, renewing and
deleting keys through them."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import panels
from database import add_user, async_session_maker, create_server, get_key_details
from handlers.keys.operations import create_key_on_cluster, delete_key_from_cluster, renew_key_in_cluster
from panels import PanelError, PanelSettings
from panels._3xui import (
    ClientConfig,
    add_client,
    delete_client,
    extend_client_key,
    get_client_traffic,
    get_vless_link_for_client,
    get_xui_instance,
    toggle_client,
)
from panels.remnawave import RemnawaveAPI, get_vless_link_for_remnawave_by_username
from tests.conftest import fresh_database
from tests.panel_servers import RemnawaveServer, XuiServer
from tests.shared_zygote import ThreadedZygote
from tests.solobot_harness import running_solobot, traversable_dir

pytestmark = pytest.mark.anyio

DAY_MS = 86_400_000
EXPIRY = 1_900_000_000_000  # ms, a fixed point in 2030


@pytest.fixture
def panel_settings() -> Iterator[None]:
    panels.configure(
        PanelSettings(
            remnawave_login="admin",
            remnawave_password="secret",
            xui_username="admin",
            xui_password="secret",
            public_link="https://sub.example.org/",
        )
    )
    yield
    panels.configure(PanelSettings())
    panels._3xui._xui_instance_cache.clear()


async def test_remnawave_client_speaks_the_panels_api() -> None:
    async with RemnawaveServer() as server:
        api = RemnawaveAPI(server.api_url)
        try:
            assert await api.login("admin", "wrong") is False
            assert await api.create_user({"username": "nobody"}) is None  # no credentials at all: refused, logged
            assert await api.login("admin", "secret") is True
            client_id = str(uuid.uuid4())
            user = await api.create_user(
                {
                    "username": "key_1",
                    "expireAt": "2030-03-17T17:46:40.000Z",
                    "telegramId": 7,
                    "uuid": client_id,
                    "activeInternalSquads": [server.squad],
                    "trafficLimitStrategy": "NO_RESET",
                }
            )
            assert user is not None and user["uuid"] == client_id and user["subscriptionUrl"].startswith(server.url)
            assert await api.create_user({"username": "key_1", "expireAt": "2030-01-01T00:00:00Z"}) is None  # duplicate
            assert await api.update_user(uuid=client_id, expire_at="2031-01-01T00:00:00.000Z", hwid_device_limit=3) is True
            assert server.users[client_id]["expireAt"] == "2031-01-01T00:00:00.000Z"
            assert server.users[client_id]["hwidDeviceLimit"] == 3
            assert (await api.get_user_by_uuid(client_id))["username"] == "key_1"
            link = await get_vless_link_for_remnawave_by_username(api, "key_1", "Мой ключ")
            assert link is not None and link.startswith(f"vless://{client_id}@") and link.endswith("#Мой ключ")
            server.devices[client_id] = [{"hwid": "A1", "platform": "android"}, {"hwid": "B2", "platform": "ios"}]
            assert [d["hwid"] for d in await api.get_user_hwid_devices(client_id)] == ["A1", "B2"]
            assert await api.delete_user_hwid_device(client_id, "A1") is True
            assert [d["hwid"] for d in server.devices[client_id]] == ["B2"]
            assert (await api.bulk_extend_expiration_date([client_id], 1))["affectedRows"] == 1
            assert server.users[client_id]["expireAt"].startswith("2031-01-02")
            assert await api.disable_user(client_id) is True and server.users[client_id]["status"] == "DISABLED"
            old_short = server.users[client_id]["shortUuid"]
            assert (await api.revoke_user_subscription(client_id))["shortUuid"] != old_short
            assert [u["uuid"] for u in await api.get_all_users_time()] == [client_id]
            assert await api.delete_user(client_id) is True
            assert await api.delete_user(client_id) is False and api.last_status == 404
            assert await api.get_user_by_uuid(client_id) is None
        finally:
            await api.aclose()


async def test_remnawave_uses_the_operators_login_or_api_token(panel_settings: None) -> None:
    async with RemnawaveServer(api_token="TOKEN-1") as server, RemnawaveAPI(server.api_url) as api:
        # No login() call: the host's configured credentials are used on the first request.
        assert await api.get_all_users_time() == []
        assert ("POST", "/api/auth/login") in server.requests
    panels.configure(PanelSettings(remnawave_token="TOKEN-1"))
    async with RemnawaveServer(api_token="TOKEN-1") as server, RemnawaveAPI(server.api_url) as api:
        assert await api.get_all_users_time() == []
        assert ("POST", "/api/auth/login") not in server.requests


async def test_3xui_functions_keep_upstreams_names_and_results(panel_settings: None) -> None:
    async with XuiServer() as server:
        xui = await get_xui_instance(server.url)
        assert await get_xui_instance(server.url) is xui  # the session is re-used (upstream: 30 minutes)
        client_id = str(uuid.uuid4())
        config = ClientConfig(client_id, "Key_2", "7", 2, 0, EXPIRY, True, "xtls-rprx-vision", server.inbound_id, "key_2")
        assert await add_client(xui, config) == {"status": "success"}
        assert server.client("key_2")["id"] == client_id  # emails are stored lower-case, as upstream sends them
        assert await add_client(xui, config) == {"status": "duplicate", "email": "Key_2"}
        assert await extend_client_key(xui, server.inbound_id, "key_2", EXPIRY + DAY_MS, client_id, 0, "key_2", 7, 2) is True
        assert server.client("key_2")["expiryTime"] == EXPIRY + DAY_MS
        assert await extend_client_key(xui, server.inbound_id, "nobody", EXPIRY, client_id, 0, "x", 7) is None
        traffic = await get_client_traffic(xui, client_id)
        assert traffic["status"] == "success" and traffic["traffic"][0].email == "key_2"
        assert await toggle_client(xui, server.inbound_id, "key_2", client_id, enable=False) is True
        assert server.client("key_2")["enable"] is False
        link = await get_vless_link_for_client(xui, server.inbound_id, "key_2", "vpn.example.org", 443, "NL")
        assert link == (
            f"vless://{client_id}@vpn.example.org:443?type=tcp&security=reality&pbk=PUBKEY&fp=chrome"
            "&sni=www.example.org&sid=ab12&spx=%2F&flow=xtls-rprx-vision#NL"
        )
        assert await delete_client(xui, server.inbound_id, "key_2", client_id) is True
        assert server.client("key_2") is None
        assert await delete_client(xui, server.inbound_id, "key_2", client_id) is False
        await xui.aclose()
    panels.configure(PanelSettings(xui_username="admin", xui_password="wrong"))
    panels._3xui._xui_instance_cache.clear()
    async with XuiServer() as server:
        with pytest.raises(panels._3xui.XuiError, match="Invalid username or password"):
            await get_xui_instance(server.url)


async def test_the_core_creates_renews_and_deletes_keys_on_both_panels(db: str, panel_settings: None) -> None:
    async with RemnawaveServer() as remna, XuiServer() as xui_a, XuiServer(inbound_id=7) as xui_b:
        async with async_session_maker() as session:
            await add_user(session, 42, "user42")
            await create_server(session, "de", "de-1", remna.api_url, inbound_id=remna.squad, panel_type="remnawave")
            await create_server(session, "nl", "nl-1", xui_a.url, inbound_id=str(xui_a.inbound_id), panel_type="3x-ui")
            await create_server(session, "nl", "nl-2", xui_b.url, inbound_id=str(xui_b.inbound_id), panel_type="3x-ui")
            await session.commit()

            remna_id, xui_id = str(uuid.uuid4()), str(uuid.uuid4())
            await create_key_on_cluster("de", 42, remna_id, "de_key", EXPIRY, session=session, hwid_limit=2)
            await create_key_on_cluster("nl", 42, xui_id, "nl_key", EXPIRY, session=session)

            # Remnawave: one user in the cluster's squad; the key's link is its subscription URL.
            user = remna.users[remna_id]
            assert user["username"] == "de_key" and user["activeInternalSquads"] == [remna.squad]
            assert user["expireAt"] == "2030-03-17T17:46:40.000Z" and user["hwidDeviceLimit"] == 2
            details = await get_key_details(session, "de_key")
            assert details["key"] == f"{remna.url}/api/sub/{user['shortUuid']}" and details["server_id"] == "de"
            # 3x-ui: the client on every server of the cluster; the link is the operator's PUBLIC_LINK.
            assert xui_a.client("nl_key")["id"] == xui_id and xui_b.client("nl_key")["id"] == xui_id
            assert (await get_key_details(session, "nl_key"))["key"] == "https://sub.example.org/nl_key/42"

            assert await renew_key_in_cluster("de", "de_key", remna_id, EXPIRY + 30 * DAY_MS, 50, session, 3) is True
            assert remna.users[remna_id]["expireAt"] == "2030-04-16T17:46:40.000Z"
            assert remna.users[remna_id]["trafficLimitBytes"] == 50 * 1024**3
            assert await renew_key_in_cluster("nl", "nl_key", xui_id, EXPIRY + 30 * DAY_MS, 0, session) is True
            assert xui_a.client("nl_key")["expiryTime"] == xui_b.client("nl_key")["expiryTime"] == EXPIRY + 30 * DAY_MS

            await delete_key_from_cluster("de", "de_key", remna_id, session)
            await delete_key_from_cluster("nl", "nl_key", xui_id, session)
            assert remna_id not in remna.users
            assert xui_a.client("nl_key") is None and xui_b.client("nl_key") is None
            await delete_key_from_cluster("de", "de_key", remna_id, session)  # already gone: not an error

            # A panel that refuses is an error the core sees (nothing is stored then).
            panels.configure(PanelSettings(remnawave_login="admin", remnawave_password="wrong"))
            with pytest.raises(PanelError, match="could not create user"):
                await create_key_on_cluster("de", 42, str(uuid.uuid4()), "de_key2", EXPIRY, session=session)
            assert await get_key_details(session, "de_key2") is None


async def test_a_module_uses_upstreams_clients_through_the_host(
    pg_url: str, tmp_path, monkeypatch, shared_zygote: ThreadedZygote
) -> None:
    """A module granted ``panels`` reaches the bot's panels with the operator's account, never
    seeing it; only the panel calls modules make, only to the bot's own servers. A module granted
    network to the panel's port instead talks to it itself, with its own token."""
    config = tmp_path / "modules.toml"
    monkeypatch.setenv("MODULES_CONFIG", str(config))
    with traversable_dir() as root:
        modules_dir = root / "modules"
        for name in ("panels_user", "panels_direct"):
            shutil.copytree(Path(__file__).parent / "compat_modules" / name, modules_dir / name)
        async with RemnawaveServer(api_token="MODULE-TOKEN") as remna, XuiServer() as xui, fresh_database(pg_url) as url:
            # panels_user: through the host; panels_direct: its own connection to the panel's port only.
            config.write_text(
                '[modules.panels_user]\npanels = ["remnawave", "3x-ui"]\n\n'
                f"[modules.panels_direct]\nnetwork = true\ntcp_ports = [{remna.port}]\n"
            )
            async with running_solobot(url, modules_dir, root, zygote=shared_zygote) as bot:
                # The operator's panel accounts, in the host only (the harness's settings have none).
                panels.configure(PanelSettings(remnawave_login="admin", remnawave_password="secret",
                                               xui_username="admin", xui_password="secret"))  # fmt: skip
                async with async_session_maker() as session:
                    await create_server(session, "de", "de-1", remna.api_url, inbound_id=remna.squad, panel_type="remnawave")
                    await create_server(session, "nl", "nl-1", xui.url, inbound_id=str(xui.inbound_id), panel_type="3x-ui")
                    await session.commit()
                client_id = str(uuid.uuid4())
                remna.users[client_id] = {
                    "uuid": client_id, "shortUuid": "s1", "username": "mod_key", "status": "ACTIVE",
                    "expireAt": "2030-01-01T00:00:00Z", "activeInternalSquads": [remna.squad], "hwidDeviceLimit": 1,
                }  # fmt: skip
                remna.devices[client_id] = [{"hwid": "H1"}]
                # A 3x-ui client the core created earlier (the host is configured with the operator's account).
                xui_client = str(uuid.uuid4())
                host_xui = await get_xui_instance(xui.url)
                config_xui = ClientConfig(xui_client, "mod_xui", "1", 0, 0, EXPIRY, True, "", xui.inbound_id, "mod_xui")
                assert await add_client(host_xui, config_xui) == {"status": "success"}

                [seen] = await bot.host.runtime.run_hooks(
                    "panels_probe", remnawave_url=remna.api_url, xui_url=xui.url, client_id=client_id,
                    username="mod_key", xui_client=xui_client,
                )  # fmt: skip
                assert seen == {
                    "login": True,
                    "user": "mod_key",
                    "devices": ["H1"],
                    "vless": f"vless://{client_id}@vpn.example.org:443?type=tcp&security=reality#mod_key",
                    "updated": True,
                    "admin_call": None,
                    "elsewhere": None,
                    "traffic": ["mod_xui"],
                }
                assert remna.users[client_id]["hwidDeviceLimit"] == 5
                assert ("GET", "/api/system/stats") not in remna.requests  # refused before reaching the panel
                [direct] = await bot.host.runtime.run_hooks(
                    "panels_direct_probe", url=remna.api_url, token="MODULE-TOKEN", client_id=client_id
                )
                assert direct == {"user": "mod_key", "anonymous": None}
    panels.configure(PanelSettings())
    panels._3xui._xui_instance_cache.clear()


def test_a_module_asks_for_panels_and_the_operator_sees_the_line_to_grant(tmp_path: Path) -> None:
    from sandbox.module_requests import describe_pending, load_module_requests
    from sandbox.permissions import DEFAULTS, validate_entry

    module = tmp_path / "devices"
    module.mkdir()
    (module / "module.toml").write_text('[request]\npanels = ["remnawave"]\nreason.panels = "shows devices"\n')
    [line] = describe_pending(load_module_requests(module), DEFAULTS)
    assert line.endswith('grant in modules.toml [modules.devices] panels = ["remnawave"]') and "shows devices" in line
    _, problems = validate_entry({"panels": ["wireguard"]})
    assert problems == [("panels", 'panels holds panel types ("remnawave", "3x-ui"), got \'wireguard\'')]


async def test_a_3xui_session_the_panel_forgot_is_renewed_once(panel_settings: None) -> None:
    async with XuiServer() as server:
        xui = await get_xui_instance(server.url)
        server.sessions.clear()  # the panel restarted: its session cookies are gone
        client_id = str(uuid.uuid4())
        assert await get_client_traffic(xui, client_id) == {"status": "not_found", "client_id": client_id}
        assert len(server.sessions) == 1  # logged in again
        await xui.aclose()


@pytest.mark.parametrize("panel_type", ["remnawave", "3x-ui"])
async def test_a_user_buys_and_renews_a_key_on_a_real_panel(db: str, panel_settings: None, panel_type: str) -> None:
    """The core's purchase flow through the local Bot API, with the seeded cluster on a real panel."""
    from sqlalchemy import update

    from database import get_key_by_email, get_tariffs, set_user_balance, update_trial
    from database.models import Server
    from tests.core_fixtures import callbacks, press, running_core, send

    server_class = RemnawaveServer if panel_type == "remnawave" else XuiServer
    async with server_class() as panel:
        api_url = panel.api_url if panel_type == "remnawave" else panel.url
        inbound = panel.squad if panel_type == "remnawave" else str(panel.inbound_id)
        async with async_session_maker() as session:
            await session.execute(
                update(Server)
                .where(Server.cluster_name == "local")
                .values(api_url=api_url, inbound_id=inbound, panel_type=panel_type)
            )
            await add_user(session, 7801, first_name="Buyer")
            await update_trial(session, 7801, 1)
            await set_user_balance(session, 7801, 300)
            await session.commit()
            standard = next(t["id"] for t in await get_tariffs(session, group_code="standard"))
        async with running_core() as core:
            user = core.user(7801, "Buyer")
            await send(user, "/buy", "Выберите тариф")
            done = await press(user, f"select_tariff_plan|{standard}", "Подписка создана")
            email = callbacks(done)[0].split("|", 1)[1]
            async with async_session_maker() as session:
                key = await get_key_by_email(session, email)
            if panel_type == "remnawave":
                user_row = panel.users[key.client_id]
                assert user_row["username"] == email and key.key == f"{panel.url}/api/sub/{user_row['shortUuid']}"
            else:
                assert panel.client(email)["id"] == key.client_id and panel.client(email)["expiryTime"] == key.expiry_time
                assert key.key == f"https://sub.example.org/{email}/7801"
            card = await press(user, f"view_key|{email}", f"Подписка {email}")
            assert key.key in "\n".join(filter(None, [card.text, card.caption]))
            await press(user, f"renew_key|{email}", "Продление подписки")
            await press(user, f"renew_plan|{standard}|{email}", "продлена")
        async with async_session_maker() as session:
            renewed = await get_key_by_email(session, email)
        assert renewed.expiry_time == key.expiry_time + 30 * DAY_MS
        if panel_type == "remnawave":
            assert panel.users[key.client_id]["expireAt"] == panels.remnawave.expire_at_iso(renewed.expiry_time)
        else:
            assert panel.client(email)["expiryTime"] == renewed.expiry_time
