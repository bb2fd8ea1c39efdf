# Hides every button whose callback data starts with a legacy prefix, in the profile and the
# start menu (the seed's third example: {"remove_prefix": ...}). Uses the decorator form.
from aiogram import Router

from hooks.hooks import register_hook

from . import settings

router = Router()


@register_hook("profile_menu")
def hide_legacy_in_profile(**kwargs):  # a sync hook works too
    return {"remove_prefix": settings.LEGACY_PREFIX}


@register_hook("start_menu")
async def hide_legacy_in_start(**kwargs):
    return {"remove_prefix": settings.LEGACY_PREFIX}
