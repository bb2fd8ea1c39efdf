"""Hook facts (HOOKS.md) and finding ``register_hook`` registrations in a file."""

from __future__ import annotations

import ast
from dataclasses import dataclass

from .astutil import FunctionNode, call_name, keyword, str_value

# Group 1 of HOOKS.md: the core fires these, with exactly these keyword arguments.
HOOK_KWARGS: dict[str, frozenset[str]] = {
    name: frozenset(kwargs.split())
    for name, kwargs in {
        "profile_menu": "chat_id admin session",
        "admin_panel": "admin_role",
        "periodic_notifications": "bot session keys",
        "start_link": "message state session user_data part",
        "start_menu": "chat_id session",
        "view_key_menu": "key_name session",
        "pay_menu_buttons": "chat_id admin session",
        "payment_success": "user_id tg_id amount payment_system session status currency original_amount",
        "key_creation_complete": "chat_id admin session email key_name",
        "providers_config": "providers flags",
        "profile_text": "username chat_id balance key_count session",
        "start_entry": "message event state session admin",
        "about_menu": "chat_id trial session",
        "about_text": "chat_id trial session",
        "user_message": "user_id message_text username first_name last_name session message",
        "admin_stats": "session now",
        "admin_user_edit": "tg_id is_banned",
        "zero_traffic_notification": "chat_id admin session email",
    }.items()
}

# Group 2 (reserved) and names modules register that upstream never fires: not typos.
OTHER_KNOWN_HOOKS = frozenset(
    """
    gift_activation renewal_forbidden_groups admin_key_edit_menu cluster_override cluster_balancer
    remnawave_webapp_override happ_cryptolink_override intercept_key_creation_message process_callback_renew_key
    purchase_tariff_group_override renew_tariffs renewal_complete after_hwid_reset tariff_menu
    check_discount_validity addons_menu connect_device_menu startup after_key_created daily_visit
    referral_bound statistics_menu system_startup web_app remnawave_event
""".split()
)

KNOWN_HOOKS = frozenset(HOOK_KWARGS) | OTHER_KNOWN_HOOKS

# Hooks whose results go through insert_hook_buttons (the operation protocol).
BUTTON_HOOKS = frozenset(
    {
        "profile_menu",
        "admin_panel",
        "start_menu",
        "view_key_menu",
        "pay_menu_buttons",
        "key_creation_complete",
        "about_menu",
        "admin_user_edit",
        "zero_traffic_notification",
    }
)
# Hooks whose results are shown to the user as text.
TEXT_HOOKS = frozenset({"profile_text", "about_text", "admin_stats"})

OPERATION_KEYS = frozenset(
    {
        "button",
        "after",
        "insert_at",
        "replace_keyboard",
        "remove",
        "remove_prefix",
        "remove_url",
        "remove_url_prefix",
    }
)


@dataclass(frozen=True)
class HookRegistration:
    hook: str | None  # the hook name when it is a string literal
    node: ast.Call  # the register_hook(...) call (or decorator call)
    func: FunctionNode | ast.Lambda | None  # the registered function when it is defined in the same file
    func_name: str | None
    complete: bool  # False for a bare ``register_hook("x")`` statement that registers nothing


def is_register_hook(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and call_name(node) == "register_hook"


def registrations(tree: ast.Module) -> list[HookRegistration]:
    defs: dict[str, FunctionNode] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            defs.setdefault(node.name, node)
    for node in tree.body:  # module-level definitions win over nested ones of the same name
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            defs[node.name] = node

    found: list[HookRegistration] = []
    decorator_calls: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for deco in node.decorator_list:
                if is_register_hook(deco):
                    assert isinstance(deco, ast.Call)
                    decorator_calls.add(id(deco))
                    found.append(HookRegistration(_hook_name(deco), deco, node, node.name, True))

    statement_calls = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr) and isinstance(n.value, ast.Call)}
    for node in ast.walk(tree):
        if not is_register_hook(node) or id(node) in decorator_calls:
            continue
        assert isinstance(node, ast.Call)
        target = node.args[1] if len(node.args) > 1 else (kw.value if (kw := keyword(node, "func")) else None)
        if target is None:
            found.append(HookRegistration(_hook_name(node), node, None, None, id(node) not in statement_calls))
        elif isinstance(target, ast.Lambda):
            found.append(HookRegistration(_hook_name(node), node, target, "<lambda>", True))
        elif isinstance(target, ast.Name):
            found.append(HookRegistration(_hook_name(node), node, defs.get(target.id), target.id, True))
        else:
            found.append(HookRegistration(_hook_name(node), node, None, None, True))
    return found


def _hook_name(call: ast.Call) -> str | None:
    if call.args:
        return str_value(call.args[0])
    kw = keyword(call, "name")
    return str_value(kw.value) if kw else None
