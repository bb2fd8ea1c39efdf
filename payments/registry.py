"""The provider map the pay menu shows: core providers, patched by modules via ``providers_config``.

Each entry is a config dict as upstream passes it to the hook: ``enabled, value, currency, fast,
module, order`` (+ ``title``). ``value`` is the callback data of the provider's button; entries a
module adds carry its own ``value`` and its router handles the press.
"""

from __future__ import annotations

from typing import Any

from hooks.hooks import run_hooks
from logger import logger

from .base import PaymentProvider
from .test_provider import TestProvider

ProviderConfig = dict[str, Any]

CORE_PROVIDERS: dict[str, PaymentProvider] = {p.name: p for p in (TestProvider(),)}
_enabled_override: dict[str, bool] = {}


def set_provider_enabled(name: str, enabled: bool | None) -> None:
    """Force a core provider on or off (``None`` goes back to the config flag)."""
    if enabled is None:
        _enabled_override.pop(name, None)
    else:
        _enabled_override[name] = enabled


def provider_flags() -> dict[str, bool]:
    """``<NAME>_ENABLE`` config flags of the core providers (all off when config has none)."""
    try:
        import config
    except ImportError:
        config = None  # type: ignore[assignment]
    flags = {}
    for name in CORE_PROVIDERS:
        flag = f"{name.upper()}_ENABLE"
        flags[flag] = _enabled_override.get(name, bool(getattr(config, flag, False)))
    return flags


def provider_callback(name: str) -> str:
    return f"pay_provider|{name}"


async def get_providers(only_enabled: bool = True) -> dict[str, ProviderConfig]:
    """Provider name → config, after every ``providers_config`` patch, ordered by ``order``."""
    flags = provider_flags()
    providers: dict[str, ProviderConfig] = {
        name: {
            "enabled": flags[f"{name.upper()}_ENABLE"],
            "value": provider_callback(name),
            "currency": provider.currency,
            "fast": provider.fast,
            "module": None,
            "order": index,
            "title": provider.title,
        }
        for index, (name, provider) in enumerate(CORE_PROVIDERS.items())
    }
    for patch_set in await run_hooks("providers_config", providers=providers, flags=flags):
        apply_patches(providers, patch_set)
    selected = {n: c for n, c in providers.items() if c.get("enabled") or not only_enabled}
    return dict(sorted(selected.items(), key=lambda item: (_order(item[1]), item[0])))


def apply_patches(providers: dict[str, ProviderConfig], patches: Any) -> None:
    """One hook result: name → ``None`` (delete) or a dict merged into (or creating) that entry."""
    if not isinstance(patches, dict):
        logger.warning("[providers_config] ignored a result that is not a dict: %r", type(patches).__name__)
        return
    for name, patch in patches.items():
        if patch is None:
            providers.pop(name, None)
        elif isinstance(patch, dict):
            providers.setdefault(str(name), {"enabled": True, "value": f"pay_{name}", "order": 100}).update(patch)
        else:
            logger.warning("[providers_config] ignored the patch for %r: %r", name, type(patch).__name__)


def _order(config: ProviderConfig) -> int:
    try:
        return int(config.get("order") or 0)
    except (TypeError, ValueError):
        return 0
