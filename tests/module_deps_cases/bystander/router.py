import importlib

from aiogram import Router

from hooks.hooks import register_hook

router = Router()


@register_hook("deps_probe")
async def probe(site: str, **kwargs):
    """Whether this module can reach another module's installed packages (it must not)."""
    seen = {}
    try:
        importlib.import_module("solobot_native_demo")
        seen["import"] = "imported"
    except ImportError as exc:
        seen["import"] = type(exc).__name__
    try:
        seen["listdir"] = sorted(__import__("os").listdir(site))
    except OSError as exc:
        seen["listdir"] = type(exc).__name__
    return seen
