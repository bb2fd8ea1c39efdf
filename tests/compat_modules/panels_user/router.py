"""A module using upstream's panel clients as upstream modules do (issue 11, item 5).

It never sees a panel password: its ``login()`` is answered by the host when the operator
granted it the panel, and every request is sent by the host with the operator's account.
"""

from aiogram import Router

from hooks.hooks import register_hook
from panels._3xui import get_client_traffic, get_xui_instance
from panels.remnawave import RemnawaveAPI, get_vless_link_for_remnawave_by_username

router = Router()


@register_hook("panels_probe")
async def probe(remnawave_url: str, xui_url: str, client_id: str, username: str, xui_client: str, **kwargs):
    api = RemnawaveAPI(remnawave_url)
    seen = {"login": await api.login("upstream-config-login", "upstream-config-password")}
    user = await api.get_user_by_uuid(client_id)
    seen["user"] = user["username"] if user else None
    seen["devices"] = [d["hwid"] for d in await api.get_user_hwid_devices(client_id)]
    seen["vless"] = await get_vless_link_for_remnawave_by_username(api, username)
    seen["updated"] = await api.update_user(uuid=client_id, hwid_device_limit=5)
    # Not a call upstream's client makes for modules: refused by the host.
    seen["admin_call"] = await api._request("GET", "/system/stats")
    # Another address than the bot's Remnawave servers: refused by the host.
    seen["elsewhere"] = await RemnawaveAPI("http://127.0.0.1:9/api").get_user_by_uuid(client_id)
    xui = await get_xui_instance(xui_url)
    traffic = await get_client_traffic(xui, xui_client)
    seen["traffic"] = [t.email for t in traffic.get("traffic", [])] if traffic["status"] == "success" else traffic
    return seen
