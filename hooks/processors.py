"""Upstream's ``hooks.processors``: one function per hook the purchase and key flows fire, each
running the hook and reducing its results the way upstream's callers expect.

Modules call these to fire a hook exactly as the core does (same keyword arguments, same
reading of the results); the core's own flows use them too, so there is one reading per hook.
"""

from __future__ import annotations

from typing import Any

from .hooks import run_hooks


async def _all(name: str, **kwargs: Any) -> list[Any]:
    return list(await run_hooks(name, **kwargs))


async def _first(name: str, **kwargs: Any) -> Any:
    results = await run_hooks(name, **kwargs)
    return results[0] if results and results[0] else None


async def _bool_override(name: str, default: bool, **kwargs: Any) -> bool:
    """The first result that is a bool, or ``{"override": bool}``; ``default`` when none is."""
    for result in await run_hooks(name, **kwargs):
        if isinstance(result, bool):
            return result
        if isinstance(result, dict) and "override" in result:
            return bool(result["override"])
    return default


async def process_cluster_override(
    tg_id: int, state_data: dict[str, Any], session: Any, plan: int | None = None, **kwargs: Any
) -> str | None:
    """``cluster_override``: the cluster a new key must go to, or None for the least loaded."""
    return await _first("cluster_override", tg_id=tg_id, state_data=state_data, session=session, plan=plan, **kwargs)


async def process_cluster_balancer(available_clusters: dict[str, int], session: Any, **kwargs: Any) -> dict[str, int] | None:
    """``cluster_balancer``: a narrowed ``{cluster: load}`` map, or None to keep all."""
    return await _first("cluster_balancer", available_clusters=available_clusters, session=session, **kwargs)


async def process_remnawave_webapp_override(remnawave_webapp: bool, final_link: str, session: Any, **kwargs: Any) -> bool:
    """``remnawave_webapp_override``: whether the "connect" button opens the link as a web app."""
    if not remnawave_webapp or not final_link:
        return remnawave_webapp
    return await _bool_override(
        "remnawave_webapp_override",
        remnawave_webapp,
        remnawave_webapp=remnawave_webapp,
        final_link=final_link,
        session=session,
        **kwargs,
    )


async def process_happ_cryptolink_override(
    cluster_id: str | None,
    plan: int | None,
    session: Any,
    email: str | None = None,
    tg_id: int | None = None,
    happ_cryptolink: bool = False,
    **kwargs: Any,
) -> bool:
    """``happ_cryptolink_override``: whether to hand out a Happ crypto-link instead of the plain one."""
    return await _bool_override(
        "happ_cryptolink_override",
        happ_cryptolink,
        cluster_id=cluster_id,
        plan=plan,
        session=session,
        email=email,
        tg_id=tg_id,
        happ_cryptolink=happ_cryptolink,
        **kwargs,
    )


async def process_intercept_key_creation_message(chat_id: int, session: Any, target_message: Any, **kwargs: Any) -> bool:
    """``intercept_key_creation_message``: True when a module showed the new key itself."""
    results = await run_hooks(
        "intercept_key_creation_message", chat_id=chat_id, session=session, target_message=target_message, **kwargs
    )
    return bool(results and results[0])


async def process_key_creation_complete(
    chat_id: int, session: Any, email: str, key_name: str, admin: bool = False, **kwargs: Any
) -> list[Any]:
    """``key_creation_complete``: buttons for the "key created" message."""
    return await _all(
        "key_creation_complete", chat_id=chat_id, admin=admin, session=session, email=email, key_name=key_name, **kwargs
    )


async def process_process_callback_renew_key(callback_query: Any, state: Any, session: Any, **kwargs: Any) -> list[Any]:
    """``process_callback_renew_key``: buttons for the renewal screen."""
    return await _all("process_callback_renew_key", callback_query=callback_query, state=state, session=session, **kwargs)


async def process_renewal_forbidden_groups(chat_id: int, session: Any, admin: bool = False, **kwargs: Any) -> list[str]:
    """``renewal_forbidden_groups``: tariff groups a key may not be renewed with (``additional_groups``)."""
    groups: list[str] = []
    for result in await run_hooks("renewal_forbidden_groups", chat_id=chat_id, admin=admin, session=session, **kwargs):
        extra = result.get("additional_groups") if isinstance(result, dict) else None
        if isinstance(extra, list):
            groups.extend(str(g) for g in extra)
    return groups


async def process_purchase_tariff_group_override(
    chat_id: int, session: Any, original_group: str, admin: bool = False, **kwargs: Any
) -> dict[str, Any] | None:
    """``purchase_tariff_group_override``: ``{"override_group", "discount_info"}`` from the first
    result naming an ``override_group``, else None."""
    results = await run_hooks(
        "purchase_tariff_group_override", chat_id=chat_id, admin=admin, session=session, original_group=original_group, **kwargs
    )
    for result in results:
        if isinstance(result, dict) and result.get("override_group"):
            return {"override_group": result["override_group"], "discount_info": result.get("discount_info")}
    return None


async def process_renew_tariffs(chat_id: int, session: Any, admin: bool = False, **kwargs: Any) -> list[Any]:
    """``renew_tariffs``: buttons for the renewal tariff list."""
    return await _all("renew_tariffs", chat_id=chat_id, admin=admin, session=session, **kwargs)


async def process_renewal_complete(
    chat_id: int, session: Any, email: str, client_id: str, admin: bool = False, **kwargs: Any
) -> list[Any]:
    """``renewal_complete``: buttons for the "renewed" message."""
    return await _all(
        "renewal_complete", chat_id=chat_id, admin=admin, session=session, email=email, client_id=client_id, **kwargs
    )


async def process_view_key_menu(key_name: str, session: Any, **kwargs: Any) -> list[Any]:
    """``view_key_menu``: buttons for the key card."""
    return await _all("view_key_menu", key_name=key_name, session=session, **kwargs)


async def process_admin_key_edit_menu(email: str, session: Any, **kwargs: Any) -> list[Any]:
    """``admin_key_edit_menu``: buttons for the admin's key editor."""
    return await _all("admin_key_edit_menu", email=email, session=session, **kwargs)


async def process_after_hwid_reset(chat_id: int, session: Any, key_name: str, admin: bool = False, **kwargs: Any) -> bool:
    """``after_hwid_reset``: True when a result asks to go to the profile (``redirect_to_profile``)."""
    results = await run_hooks("after_hwid_reset", chat_id=chat_id, admin=admin, session=session, key_name=key_name, **kwargs)
    return any("redirect_to_profile" in str(result) for result in results)


async def process_tariff_menu(group_code: str, cluster_name: str, tg_id: int, session: Any, **kwargs: Any) -> list[Any]:
    """``tariff_menu``: buttons for the purchase tariff list."""
    return await _all("tariff_menu", group_code=group_code, cluster_name=cluster_name, tg_id=tg_id, session=session, **kwargs)


async def process_check_discount_validity(
    chat_id: int, session: Any, tariff_group: str, admin: bool = False, **kwargs: Any
) -> dict[str, Any] | None:
    """``check_discount_validity``: ``{"valid": False, "message"}`` from the first result that
    says ``valid: False`` (the purchase stops with that message), else None."""
    results = await run_hooks(
        "check_discount_validity", chat_id=chat_id, admin=admin, session=session, tariff_group=tariff_group, **kwargs
    )
    for result in results:
        if isinstance(result, dict) and not result.get("valid", True):
            message = result.get("message") or "❌ Скидка недоступна. Пожалуйста, выберите тариф заново."
            return {"valid": False, "message": str(message)}
    return None


async def process_addons_menu(email: str, session: Any, **kwargs: Any) -> list[Any]:
    """``addons_menu``: operations for the add-ons screen."""
    return await _all("addons_menu", email=email, session=session, **kwargs)


async def process_connect_device_menu(chat_id: int, session: Any, admin: bool = False, **kwargs: Any) -> list[Any]:
    """``connect_device_menu``: buttons for the "connect a device" screen."""
    return await _all("connect_device_menu", chat_id=chat_id, admin=admin, session=session, **kwargs)
