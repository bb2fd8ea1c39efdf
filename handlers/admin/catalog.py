"""The admin's «🧩 Модули» → «🛒 Каталог»: browse the catalog, read a module's card (releases,
changelog, requested permissions with reasons, the licence held), install, update, roll back,
remove; add a licence token. Shown only when the bot has a catalog (``catalog`` in the
dispatcher's data, see ``host.catalog``).

Callback data carries a module name and a version: both are checked against the signed index
(or the install records) by the installer before anything is done with them.
"""

from __future__ import annotations

import time
from html import escape as html_escape
from typing import Any

from aiogram import Router
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from handlers import texts
from handlers.utils import answer_callback, edit_or_send_message
from installer import Installer, InstallRefused
from installer.service import Plan, newer
from logger import logger
from runtime.discovery import is_valid_module_name
from sandbox.toml_value import toml_value

from . import catalog_texts as t
from .modules import AdminModuleCallback

router = Router(name="core_admin_catalog")

CAPTION_LIMIT = 1024
TEXT_LIMIT = 4000
CHANGELOG_LINE = 120


def escape(text: str) -> str:
    return html_escape(text, quote=False)  # text nodes only: quotes need no escaping


class CatalogCallback(CallbackData, prefix="admin_cat"):
    action: str  # list, card, plan, install, rollback, remove, remove_ok, licence
    name: str = ""
    version: str = ""
    opt: str = ""  # install: "g" grant / "d" defaults, + "r" replace a hand-placed folder


class LicenceInput(StatesGroup):
    token = State()


def catalog_button() -> InlineKeyboardButton:
    return InlineKeyboardButton(text=t.BTN_CATALOG, callback_data=CatalogCallback(action="list").pack())


def update_button(name: str, version: str) -> InlineKeyboardButton:
    """«🔄 Обновить» on an update notice: opens the confirmation of that release."""
    return InlineKeyboardButton(
        text=t.BTN_UPDATE, callback_data=CatalogCallback(action="plan", name=name, version=version).pack()
    )


def _button(text: str, action: str, name: str = "", version: str = "", opt: str = "") -> InlineKeyboardButton:
    return InlineKeyboardButton(
        text=text, callback_data=CatalogCallback(action=action, name=name, version=version, opt=opt).pack()
    )


# ------------------------------------------------------------------------------- handlers


@router.callback_query(CatalogCallback.filter())
async def catalog_action(
    callback: CallbackQuery,
    callback_data: CatalogCallback,
    state: FSMContext,
    admin: bool = False,
    catalog: Installer | None = None,
) -> None:
    if not admin:
        await answer_callback(callback, texts.NOT_ADMIN, show_alert=True)
        return
    if catalog is None:
        await answer_callback(callback, t.NO_CATALOG, show_alert=True)
        return
    action, name, version = callback_data.action, callback_data.name, callback_data.version or None
    if name and not is_valid_module_name(name):
        await answer_callback(callback, t.REFUSED.format(error="нет такого модуля"), show_alert=True)
        return
    message = callback.message
    assert isinstance(message, Message)
    try:
        if action == "list":
            await answer_callback(callback)
            text, markup = await catalog_list(catalog, callback.from_user.id)
            await edit_or_send_message(message, text, reply_markup=markup, force_text=True)
        elif action == "card":
            await answer_callback(callback)
            await _show_card(message, catalog, name, callback.from_user.id)
        elif action == "plan":
            await answer_callback(callback)
            plan = await catalog.plan(name, version)
            text, markup = confirm_screen(plan)
            await edit_or_send_message(message, text, reply_markup=markup, force_text=True)
        elif action == "remove":
            await answer_callback(callback)
            markup = InlineKeyboardMarkup(
                inline_keyboard=[[_button(t.BTN_REMOVE_CONFIRM, "remove_ok", name)], [_button(t.BTN_TO_CARD, "card", name)]]
            )
            await edit_or_send_message(message, t.REMOVE_CONFIRM.format(name=name), reply_markup=markup, force_text=True)
        elif action == "licence":
            await answer_callback(callback)
            await state.set_state(LicenceInput.token)
            await message.answer(t.ASK_LICENCE)
        elif action in ("install", "rollback", "remove_ok"):
            await answer_callback(callback, t.WORKING)
            logger.info("[admin] %s: catalog %s %s %s", callback.from_user.id, action, name, version or "")
            result = await _operate(catalog, action, name, version, callback_data.opt)
            markup = InlineKeyboardMarkup(
                inline_keyboard=[[_button(t.BTN_TO_CARD, "card", name), _button(t.BTN_TO_CATALOG, "list")]]
            )
            await message.answer(escape(result), reply_markup=markup)
        else:
            await answer_callback(callback)
    except InstallRefused as exc:
        markup = InlineKeyboardMarkup(inline_keyboard=[[_button(t.BTN_TO_CATALOG, "list")]])
        await message.answer(t.REFUSED.format(error=escape(str(exc))), reply_markup=markup)


async def _operate(catalog: Installer, action: str, name: str, version: str | None, opt: str) -> str:
    if action == "install":
        outcome = await catalog.install(name, version, grant="g" in opt, replace_hand_placed="r" in opt)
    elif action == "rollback":
        outcome = await catalog.rollback(name)
    else:
        outcome = await catalog.remove(name)
    return outcome.message


@router.message(LicenceInput.token)
async def licence_token(message: Message, state: FSMContext, admin: bool = False, catalog: Installer | None = None) -> None:
    await state.clear()
    if not admin or catalog is None or not message.text:
        return
    try:
        licence = await catalog.add_licence(message.text)
    except InstallRefused as exc:
        await message.answer(t.REFUSED.format(error=escape(str(exc))))
        return
    markup = InlineKeyboardMarkup(
        inline_keyboard=[[_button(t.BTN_TO_CARD, "card", licence.module), _button(t.BTN_TO_CATALOG, "list")]]
    )
    await message.answer(
        t.LICENCE_ADDED.format(licence_id=licence.licence_id, module=escape(licence.module)), reply_markup=markup
    )


# ------------------------------------------------------------------------------- screens


def _held_by(catalog: Installer, name: str, user_id: int, revoked: frozenset[str]) -> bool:
    """A valid (signed, not expired, not revoked) licence for ``name`` issued to this admin."""
    return any(licence.user_id == user_id for licence in catalog.wallet.valid(name, revoked))


async def catalog_list(catalog: Installer, user_id: int) -> tuple[str, InlineKeyboardMarkup]:
    index, offline = await catalog.feed.index_or_cached()
    try:
        revoked = await catalog.revoked()
    except InstallRefused:
        revoked = frozenset()
    builder = InlineKeyboardBuilder()
    lines = []
    for name, entry in sorted(index.modules.items()):
        if not is_valid_module_name(name):
            continue
        latest = index.latest(name)
        record = catalog.records.get(name)
        paid = bool(entry.get("paid"))
        lines.append(
            t.LIST_LINE.format(
                name=escape(name),
                latest=escape(latest.version if latest else "—"),
                price=t.PAID if paid else t.FREE,
                licence=(t.LICENCE_HELD if _held_by(catalog, name, user_id, revoked) else t.LICENCE_MISSING) if paid else "",
                installed=t.INSTALLED.format(version=escape(record.version)) if record else "",
                description=escape(str(entry.get("description") or ""))[:200],
            )
        )
        builder.row(_button(f"{name} {latest.version if latest else ''}".strip(), "card", name))
    builder.row(_button(t.BTN_LICENCE, "licence"))
    builder.row(InlineKeyboardButton(text=t.BTN_TO_MODULES, callback_data=AdminModuleCallback(action="list").pack()))
    url = escape(catalog.catalog_url)
    text = t.LIST.format(url=url, lines="\n".join(lines)) if lines else t.LIST_EMPTY.format(url=url)
    return (text + (t.OFFLINE if offline else ""))[:TEXT_LIMIT], builder.as_markup()


def _requests(requests: dict[str, Any], reasons: dict[str, str]) -> str:
    if not requests:
        return t.NO_REQUESTS
    return "\n".join(
        t.REQUEST_LINE.format(key=escape(key), value=escape(toml_value(value)), reason=escape(reasons.get(key) or t.NO_REASON))
        for key, value in requests.items()
    )


async def _show_card(message: Message, catalog: Installer, name: str, user_id: int) -> None:
    plan = await catalog.plan(name)
    index = await catalog.index()
    entry = index.modules[name]
    releases = index.releases(name)
    release_lines = [
        t.CARD_RELEASE.format(
            version=escape(r.version),
            mark=t.YANKED if r.yanked else "",
            changelog=escape((r.changelog or "—").strip().splitlines()[0][:CHANGELOG_LINE] if r.changelog.strip() else "—"),
        )
        for r in reversed(releases[-5:])
    ]
    if not plan.paid:
        licence = t.LICENCE_FREE
    elif plan.licence is not None:
        until = ""
        if plan.licence.not_after:
            until = t.LICENCE_UNTIL.format(date=time.strftime("%d.%m.%Y", time.gmtime(plan.licence.not_after)))
        licence = t.LICENCE_OK.format(licence_id=plan.licence.licence_id, user_id=plan.licence.user_id, until=until)
    else:
        licence = t.LICENCE_NONE.format(problem=escape(plan.licence_problem or ""))
    installed = plan.installed
    text = t.CARD.format(
        name=escape(name),
        price=t.PAID if plan.paid else t.FREE,
        description=escape(str(entry.get("description") or "")),
        latest=escape(plan.release.version),
        installed=escape(f"{installed.version} ({installed.source})") if installed else t.NOT_INSTALLED,
        licence=licence,
        releases="\n".join(release_lines),
        requests=_requests(plan.requests, plan.reasons),
    )
    builder = InlineKeyboardBuilder()
    if installed is None:
        builder.row(_button(t.BTN_INSTALL, "plan", name, plan.release.version))
    else:
        if newer(plan.release.version, installed.version):
            builder.row(_button(t.BTN_UPDATE_TO.format(version=plan.release.version), "plan", name, plan.release.version))
        if installed.previous:
            builder.row(_button(t.BTN_ROLLBACK.format(version=installed.previous["version"]), "rollback", name))
        builder.row(_button(t.BTN_REMOVE, "remove", name))
    if plan.paid and plan.licence is None:
        builder.row(_button(t.BTN_LICENCE, "licence"))
    builder.row(_button(t.BTN_TO_CATALOG, "list"))
    image = await catalog.feed.image(entry.get("image_url"))
    if image is not None and len(text) <= CAPTION_LIMIT:
        await message.answer_photo(BufferedInputFile(image, f"{name}.jpg"), caption=text, reply_markup=builder.as_markup())
        return
    if image is not None:
        await message.answer_photo(BufferedInputFile(image, f"{name}.jpg"), caption=f"<b>{escape(name)}</b>")
    await message.answer(text[:TEXT_LIMIT], reply_markup=builder.as_markup())


def confirm_screen(plan: Plan) -> tuple[str, InlineKeyboardMarkup]:
    release = plan.release
    text = t.CONFIRM.format(
        name=escape(release.module), version=escape(release.version), requests=_requests(plan.requests, plan.reasons)
    )
    if plan.new_requests:
        text += t.CONFIRM_NEW_REQUESTS.format(lines=escape("; ".join(plan.new_requests)))
    if plan.hand_placed:
        text += t.CONFIRM_HAND_PLACED.format(name=escape(release.module))
    if plan.failed_before:
        text += t.CONFIRM_FAILED_BEFORE.format(reason=escape(plan.failed_before[:500]))
    if plan.paid and plan.licence is None:
        text += "\n\n" + t.LICENCE_NONE.format(problem=escape(plan.licence_problem or ""))
    replace = "r" if plan.hand_placed else ""
    builder = InlineKeyboardBuilder()
    name, version = release.module, release.version
    if plan.requests:
        builder.row(_button(t.BTN_REPLACE_GRANT if replace else t.BTN_GRANT, "install", name, version, "g" + replace))
    builder.row(_button(t.BTN_REPLACE_DEFAULTS if replace else t.BTN_DEFAULTS, "install", name, version, "d" + replace))
    builder.row(_button(t.BTN_TO_CARD, "card", name))
    return text[:TEXT_LIMIT], builder.as_markup()
