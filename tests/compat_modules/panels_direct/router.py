"""A module that talks to a panel itself: granted network to the panel's port, with its own
API token (from its settings), not through the host and never with the operator's account."""

from aiogram import Router

from hooks.hooks import register_hook
from panels.remnawave import RemnawaveAPI

router = Router()


@register_hook("panels_direct_probe")
async def probe(url: str, token: str, client_id: str, **kwargs):
    async with RemnawaveAPI(url, token=token) as api:
        user = await api.get_user_by_uuid(client_id)
    async with RemnawaveAPI(url) as anonymous:  # no token and no host grant: nothing to log in with
        refused = await anonymous.get_user_by_uuid(client_id)
    return {"user": user["username"] if user else None, "anonymous": refused}
