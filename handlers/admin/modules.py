"""The admin's "🧩 Модули" screens: a paged list of modules and a card per module with
start / stop / restart / reload, answered by the running ``ModuleRuntime`` (admins only).

Callback data carries the module's name, so it is validated on the way back in: Telegram
returns whatever a client sends, and only a name the runtime knows (and that is a valid module
name) is acted on.
"""

from __future__ import annotations

import math
from html import escape as html_escape
from typing import Any

from aiogram import F, Router
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from handlers import texts
from handlers.utils import answer_callback, edit_or_send_message
from logger import logger
from runtime import ModuleRuntime, Operation
from runtime.discovery import is_valid_module_name
from sandbox.containment.status import cgroup_line

from . import modules_texts as t
from .panel.keyboard import AdminPanelCallback, build_admin_back_btn

router = Router(name="core_admin_modules")

PAGE_SIZE = 8
ERROR_LIMIT = 500  # characters of last_error on the card (tracebacks can be long)
ALERT_LIMIT = 200  # Telegram's limit for a callback answer
MAX_CALLBACK_BYTES = 64
OPERATIONS = tuple(op.value for op in Operation)


class AdminModuleCallback(CallbackData, prefix="admin_mod"):
    action: str  # "list", "card" or one of OPERATIONS
    name: str = ""
    page: int = 1


# ------------------------------------------------------------------------------- handlers


@router.callback_query(AdminPanelCallback.filter(F.action == "modules"))
async def open_modules(
    callback: CallbackQuery,
    callback_data: AdminPanelCallback,
    admin: bool = False,
    catalog: object | None = None,
    module_runtime: ModuleRuntime | None = None,
) -> None:
    runtime = await _runtime_for_admin(callback, admin, module_runtime)
    if runtime is None:
        return
    await answer_callback(callback)
    await _show_list(callback, runtime, callback_data.page, with_catalog=catalog is not None)


@router.callback_query(AdminModuleCallback.filter())
async def module_action(
    callback: CallbackQuery,
    callback_data: AdminModuleCallback,
    admin: bool = False,
    catalog: object | None = None,
    module_runtime: ModuleRuntime | None = None,
) -> None:
    runtime = await _runtime_for_admin(callback, admin, module_runtime)
    if runtime is None:
        return
    action, name, page = callback_data.action, callback_data.name, callback_data.page
    if action == "list":
        await answer_callback(callback)
        await _show_list(callback, runtime, page, with_catalog=catalog is not None)
        return
    if not is_valid_module_name(name) or name not in runtime.module_names or action not in ("card", *OPERATIONS):
        await answer_callback(callback, t.NOT_FOUND, show_alert=True)
        return
    if action == "card":
        await answer_callback(callback)
    else:
        logger.info("[admin] %s: %s module %s", callback.from_user.id, action, name)
        result, ok = await run_operation(runtime, action, name)
        await answer_callback(callback, result, show_alert=not ok)
    (status,) = await runtime.status_with_usage(name)  # the card shows memory: read off the event loop
    text, markup = module_card(status, page)
    await edit_or_send_message(callback.message, text, reply_markup=markup, force_text=True)


async def _runtime_for_admin(callback: CallbackQuery, admin: bool, runtime: ModuleRuntime | None) -> ModuleRuntime | None:
    """The runtime (the host's ``dp["module_runtime"]``) if an admin pressed the button; otherwise the
    refusal is answered and None."""
    if not admin:
        await answer_callback(callback, texts.NOT_ADMIN, show_alert=True)
        return None
    if runtime is None:
        await answer_callback(callback, t.NO_RUNTIME, show_alert=True)
    return runtime


async def _show_list(callback: CallbackQuery, runtime: ModuleRuntime, page: int, *, with_catalog: bool = False) -> None:
    text, markup = module_list(runtime.status(), page, with_catalog=with_catalog)
    await edit_or_send_message(callback.message, text, reply_markup=markup, force_text=True)


async def run_operation(runtime: ModuleRuntime, action: str, name: str) -> tuple[str, bool]:
    """Run ``action`` on module ``name``; returns the short answer for the admin and success."""
    result = await runtime.operate(name, Operation(action))
    if result.ok:
        return t.DONE[action], True
    # A failed reload leaves the previous process serving; say so only when that is true.
    return _alert(t.RELOAD_FAILED if result.still_serving else t.FAILED, result.error), False


# ------------------------------------------------------------------------------- screens


def module_list(statuses: list[dict[str, Any]], page: int, *, with_catalog: bool = False) -> tuple[str, InlineKeyboardMarkup]:
    """The paged list; ``with_catalog`` adds «🛒 Каталог» (the bot has CATALOG_URL and CATALOG_PUBLIC_KEY)."""
    builder = InlineKeyboardBuilder()
    if with_catalog:
        from .catalog import catalog_button

        builder.row(catalog_button())
    if not statuses:
        builder.row(build_admin_back_btn())
        return t.LIST_EMPTY, builder.as_markup()
    pages = max(1, math.ceil(len(statuses) / PAGE_SIZE))
    page = min(max(page, 1), pages)
    lines = []
    for status in statuses[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]:
        name, emoji = status["name"], state_emoji(status["state"])
        label = " ".join(filter(None, [emoji, name, status.get("version")]))
        if _has_button(name, pages):
            builder.row(_button(label, "card", name, page))
        else:  # not a name we can put into callback data: shown, but not manageable from here
            lines.append(t.TOO_LONG_NAME.format(emoji=emoji, name=_escape(name)))
    navigation = []
    if page > 1:
        navigation.append(_button(t.BTN_PREV, "list", "", page - 1))
    if page < pages:
        navigation.append(_button(t.BTN_NEXT, "list", "", page + 1))
    if navigation:
        builder.row(*navigation)
    builder.row(build_admin_back_btn())
    running = sum(s["state"] == "running" for s in statuses)
    text = t.LIST.format(total=len(statuses), running=running, page=page, pages=pages)
    if lines:
        text += "\n\n" + "\n".join(lines)
    return text, builder.as_markup()


def module_card(status: dict[str, Any], page: int) -> tuple[str, InlineKeyboardMarkup]:
    name, state = status["name"], status["state"]
    text = t.CARD.format(
        name=_escape(name),
        emoji=state_emoji(state),
        state=_escape(state),
        state_name=t.STATE_NAMES.get(state, state),
        version=_escape(status.get("version") or t.DASH),
        pid=status.get("pid") or t.DASH,
        uptime=format_uptime(status.get("uptime")),
        rss=format_mb(status.get("rss")),
        uss=format_mb(status.get("uss")),  # RSS counts pages shared with the zygote; USS is the module's own
        restarts=status.get("restarts", 0),
        calls=status.get("hook_calls", 0),
        errors=status.get("hook_errors", 0),
        timeouts=status.get("hook_timeouts", 0),
        p50=format_ms(status.get("hook_p50")),
        p99=format_ms(status.get("hook_p99")),
    )
    if status.get("hooks_resting"):
        text += t.CARD_RESTING.format(hooks=_escape(", ".join(status["hooks_resting"])))
    sandbox = status.get("sandbox")
    cgroup = cgroup_line(sandbox)
    if cgroup:  # its own line: the sandbox line below is trimmed, and where its processes live matters
        text += t.CARD_CGROUP.format(layer=_escape(trim(cgroup, ERROR_LIMIT)))
    if sandbox:
        layers = sandbox if isinstance(sandbox, str) else "; ".join(map(str, sandbox))
        text += t.CARD_SANDBOX.format(layers=_escape(trim(layers, ERROR_LIMIT)))
    if status.get("last_error"):
        text += t.CARD_LAST_ERROR.format(error=_escape(trim(str(status["last_error"]), ERROR_LIMIT)))
    return text, _card_keyboard(name, state, page)


def _card_keyboard(name: str, state: str, page: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    first = []
    if state not in ("running", "starting"):
        first.append(_button(t.BTN_START, "start", name, page))
    if state != "stopped":
        first.append(_button(t.BTN_STOP, "stop", name, page))
    builder.row(*first)
    builder.row(_button(t.BTN_RESTART, "restart", name, page), _button(t.BTN_RELOAD, "reload", name, page))
    builder.row(_button(t.BTN_REFRESH, "card", name, page), _button(t.BTN_TO_LIST, "list", "", page))
    return builder.as_markup()


def _button(text: str, action: str, name: str, page: int) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=AdminModuleCallback(action=action, name=name, page=page).pack())


def _has_button(name: str, pages: int) -> bool:
    """Whether every card button of ``name`` fits Telegram's 64-byte callback data."""
    if not is_valid_module_name(name):
        return False
    longest = max(OPERATIONS, key=len)
    packed = f"{AdminModuleCallback.__prefix__}:{longest}:{name}:{pages}"
    return len(packed.encode()) <= MAX_CALLBACK_BYTES


# ------------------------------------------------------------------------------ formatting


def _escape(text: str) -> str:
    return html_escape(text, quote=False)  # text nodes: Telegram knows few named entities, quotes need none


def state_emoji(state: str) -> str:
    return t.STATE_EMOJI.get(state, t.UNKNOWN_STATE_EMOJI)


def format_mb(size: int | None) -> str:
    return t.MEGABYTES.format(value=size / 2**20) if size is not None else t.DASH


def format_ms(seconds: float | None) -> str:
    return t.MILLISECONDS.format(value=seconds * 1000) if seconds is not None else t.DASH


def format_uptime(seconds: float | None) -> str:
    if seconds is None:
        return t.DASH
    total = int(seconds)
    d, rest = divmod(total, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    if d:
        return t.UPTIME_DAYS.format(d=d, h=h)
    if h:
        return t.UPTIME_HOURS.format(h=h, m=m)
    if m:
        return t.UPTIME_MINUTES.format(m=m, s=s)
    return t.UPTIME_SECONDS.format(s=s)


def trim(text: str, limit: int) -> str:
    """At most ``limit`` characters: the head (what failed) and the tail (the exception line)."""
    text = text.strip()
    if len(text) <= limit:
        return text
    head = limit // 3
    return f"{text[:head].rstrip()}\n…\n{text[-(limit - head - 3) :].lstrip()}"


def _alert(template: str, error: str) -> str:
    room = ALERT_LIMIT - len(template.format(error=""))
    error = " ".join(error.split())  # an alert is one paragraph
    if len(error) > room:
        error = error[: room - 1] + "…"
    return template.format(error=error)
