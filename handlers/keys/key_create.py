"""Buying a key (upstream's ``handlers.keys.key_create``): ``buy``, ``create_key`` and ``/buy``.

A user whose trial is unused (or was extended) gets the trial; everyone else gets the tariff
list of the cluster a new key would go to: tariffs without a subgroup as buttons, subgroups as
buttons that open their tariffs, then module buttons (``tariff_menu``). A tariff press continues
in ``handlers.tariffs.buy.key_tariffs``.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy.ext.asyncio import AsyncSession

from database import (
    add_user,
    create_subgroup_hash,
    find_subgroup_by_hash,
    get_tariffs,
    get_tariffs_for_cluster,
    get_trial,
    is_admin,
)
from database.models import Key
from hooks.hook_buttons import insert_hook_buttons
from hooks.processors import process_purchase_tariff_group_override, process_tariff_menu
from logger import logger

from .. import buttons, texts
from ..clusters import ALLOWED_GROUP_CODES, get_least_loaded_cluster
from ..queries import claim_trial
from ..start import trial_enabled
from ..utils import answer_callback, callback_args, edit_or_send_message, setting
from .format import MSK
from .key_mode.key_cluster_mode import key_cluster_mode
from .utils import add_tariff_button_generic

router = Router(name="core_key_create")
moscow_tz = MSK
TRIAL_GROUP = "trial"
NO_TARIFFS = "❌ Нет доступных тарифов для выбора."
NO_TARIFFS_ADMIN = (
    "🚫 <b>Нет тарифов для продажи</b>\n\nКластер <code>{cluster}</code>: добавьте тариф его группе в таблице tariffs."
)
SUBGROUP_GONE = "❌ Подгруппа не найдена."
SUBGROUP_TITLE = "<b>{title}</b>\n\nВыберите тариф:"


class Form(StatesGroup):
    waiting_for_server_selection = State()


@router.callback_query(F.data.in_({"create_key", "buy", "trial"}))
@router.message(Command("buy"))
async def confirm_create_new_key(
    callback_query_or_message: CallbackQuery | Message, state: FSMContext, session: AsyncSession
) -> None:
    if isinstance(callback_query_or_message, CallbackQuery):
        await answer_callback(callback_query_or_message)
    user = callback_query_or_message.from_user
    assert user is not None
    await handle_key_creation(user.id, state, session, callback_query_or_message)


async def handle_key_creation(
    tg_id: int, state: FSMContext, session: AsyncSession, message_or_query: Message | CallbackQuery
) -> None:
    """The trial when it is due, else the tariff list (a second press while this runs is ignored)."""
    if (await state.get_data()).get("key_creation_in_progress"):
        logger.warning("[purchase] %s pressed buy again while the first press was handled", tg_id)
        return
    await state.update_data(key_creation_in_progress=True)
    try:
        if trial_enabled() and not setting("TRIAL_TIME_DISABLE", False) and await get_trial(session, tg_id) in (0, -1):
            await _create_trial(tg_id, state, session, message_or_query)
        else:
            await _show_tariffs(tg_id, state, session, message_or_query)
    finally:
        await state.update_data(key_creation_in_progress=False)


async def _create_trial(tg_id: int, state: FSMContext, session: AsyncSession, message_or_query: Message | CallbackQuery) -> None:
    extended = await get_trial(session, tg_id) == -1
    trial_tariffs = [t for t in await get_tariffs(session, group_code=TRIAL_GROUP) if t.get("is_active")]
    days = int(trial_tariffs[0]["duration_days"]) if trial_tariffs else int(setting("TRIAL_TIME", 3) or 3)
    days += int(setting("NOTIFY_EXTRA_DAYS", 0) or 0) if extended else 0
    if not await claim_trial(session, tg_id):  # a double press: the other one creates it
        await _target(message_or_query).answer(texts.TRIAL_ALREADY_USED)
        return
    await edit_or_send_message(_target(message_or_query), texts.CREATING_CONNECTION_MSG)
    await state.update_data(is_trial=True)
    await create_key(
        tg_id, datetime.now(MSK) + timedelta(days=days), state, session, message_or_query,
        plan=trial_tariffs[0]["id"] if trial_tariffs else None,
    )  # fmt: skip


async def _show_tariffs(tg_id: int, state: FSMContext, session: AsyncSession, message_or_query: Message | CallbackQuery) -> None:
    target = _target(message_or_query)
    back = InlineKeyboardBuilder()
    back.row(InlineKeyboardButton(text=buttons.MAIN_MENU, callback_data="profile"))
    try:
        cluster = await get_least_loaded_cluster(session)
    except ValueError as e:
        await edit_or_send_message(target, str(e), reply_markup=back.as_markup())
        return
    tariffs, group_code = await purchase_tariffs(session, tg_id, cluster)
    if not tariffs or group_code is None:
        text = NO_TARIFFS_ADMIN.format(cluster=cluster) if await is_admin(session, tg_id) else NO_TARIFFS
        await edit_or_send_message(target, text, reply_markup=back.as_markup())
        return
    builder = await tariff_keyboard(session, tg_id, _language(message_or_query), tariffs, group_code)
    builder = insert_hook_buttons(
        builder, await process_tariff_menu(group_code=group_code, cluster_name=cluster, tg_id=tg_id, session=session)
    )
    builder.row(InlineKeyboardButton(text=buttons.MAIN_MENU, callback_data="profile"))
    await edit_or_send_message(target, texts.SELECT_TARIFF_PLAN_MSG, reply_markup=builder.as_markup(), force_text=True)
    await state.update_data(tg_id=tg_id, cluster_name=cluster, group_code=group_code, tariff_subgroup_hash=None)
    await state.set_state(Form.waiting_for_server_selection)


async def purchase_tariffs(session: AsyncSession, tg_id: int, cluster: str) -> tuple[list[dict[str, Any]], str | None]:
    """Active tariffs on sale for a key on ``cluster`` and their group: the cluster's group (or,
    with no servers configured, the first sellable group), as ``purchase_tariff_group_override``
    may replace it."""
    group_tariffs = await get_tariffs_for_cluster(session, cluster)
    if not group_tariffs:
        sellable = [
            t for t in await get_tariffs(session) if t.get("is_active") and t.get("group_code") not in ALLOWED_GROUP_CODES
        ]
        group_tariffs = sellable[:1]
    if not group_tariffs:
        return [], None
    group_code = str(group_tariffs[0].get("group_code") or "")
    override = await process_purchase_tariff_group_override(chat_id=tg_id, session=session, original_group=group_code)
    if override:
        group_code = override["override_group"]
    tariffs = [t for t in await get_tariffs(session, group_code=group_code) if t.get("is_active")]
    return tariffs, group_code


async def tariff_keyboard(
    session: AsyncSession, tg_id: int, language_code: str | None, tariffs: list[dict[str, Any]], group_code: str
) -> InlineKeyboardBuilder:
    """Tariffs without a subgroup, then one button per subgroup (ordered by their tariffs' weights)."""
    grouped: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    for tariff in tariffs:
        grouped[tariff.get("subgroup_title") or None].append(tariff)
    builder = InlineKeyboardBuilder()
    for tariff in grouped.pop(None, []):
        await add_tariff_button_generic(builder, tariff, session, tg_id, language_code, "select_tariff_plan")
    weights = {title: sum(int(t.get("sort_order") or 1) for t in group) for title, group in grouped.items()}
    for title in sorted(grouped, key=lambda t: (weights[t], t)):
        assert title is not None  # the None group was popped above
        hash_ = create_subgroup_hash(title, group_code)
        builder.row(InlineKeyboardButton(text=title, callback_data=f"tariff_subgroup_user|{hash_}"))
    return builder


@router.callback_query(F.data.startswith("tariff_subgroup_user|"))
async def show_tariffs_in_subgroup_user(callback: CallbackQuery, state: FSMContext, session: AsyncSession) -> None:
    await answer_callback(callback)
    data = await state.get_data()
    group_code = data.get("group_code") or ""
    (subgroup_hash,) = callback_args(callback, 1)
    subgroup = await find_subgroup_by_hash(session, subgroup_hash, group_code)
    tariffs = [t for t in await get_tariffs(session, group_code=group_code) if t.get("is_active")]
    tariffs = [t for t in tariffs if subgroup and t.get("subgroup_title") == subgroup]
    if not tariffs:
        await edit_or_send_message(callback.message, SUBGROUP_GONE)
        return
    await state.update_data(tariff_subgroup_hash=subgroup_hash)
    builder = InlineKeyboardBuilder()
    for tariff in tariffs:
        await add_tariff_button_generic(
            builder, tariff, session, callback.from_user.id, callback.from_user.language_code, "select_tariff_plan"
        )
    builder.row(InlineKeyboardButton(text=buttons.BACK, callback_data="back_to_tariff_group_list"))
    builder.row(InlineKeyboardButton(text=buttons.MAIN_MENU, callback_data="profile"))
    await edit_or_send_message(callback.message, SUBGROUP_TITLE.format(title=subgroup), reply_markup=builder.as_markup())


@router.callback_query(F.data.in_({"back_to_tariff_group_list", "back_to_subgroup_tariffs"}))
async def back_to_tariff_group_list(callback: CallbackQuery, state: FSMContext, session: AsyncSession) -> None:
    await answer_callback(callback)
    await _show_tariffs(callback.from_user.id, state, session, callback)


back_to_subgroup_tariffs = back_to_tariff_group_list  # upstream's name (its configurator's way back)


async def create_key(
    tg_id: int,
    expiry_time: datetime,
    state: FSMContext | None,
    session: AsyncSession,
    message_or_query: Message | CallbackQuery | None = None,
    old_key_name: str | None = None,
    plan: int | None = None,
    selected_duration_days: int | None = None,
    selected_device_limit: int | None = None,
    selected_traffic_gb: int | None = None,
    selected_price_rub: int | None = None,
    skip_balance_charge: bool | None = None,
) -> Key | None:
    """Create a key for ``tg_id`` expiring at ``expiry_time`` with tariff ``plan`` and show it;
    the price (``selected_price_rub``, else the tariff's) is taken from the balance unless
    ``skip_balance_charge`` or the state says it is a trial. ``old_key_name`` is upstream's (it
    was used by country changes) and is ignored here. Returns the key (upstream returns None),
    or None when none was created."""
    user = message_or_query.from_user if message_or_query is not None else None
    if user is not None and not user.is_bot:
        await add_user(
            session, user.id, user.username, user.first_name, user.last_name, user.language_code, user.is_bot
        )  # fmt: skip
    return await key_cluster_mode(
        tg_id,
        expiry_time,
        state,
        session,
        message_or_query,
        plan=plan,
        selected_device_limit=selected_device_limit,
        selected_traffic_gb=selected_traffic_gb,
        selected_price_rub=selected_price_rub,
        skip_balance_charge=skip_balance_charge,
    )


def _target(message_or_query: Message | CallbackQuery) -> Message:
    if isinstance(message_or_query, CallbackQuery):
        assert isinstance(message_or_query.message, Message)
        return message_or_query.message
    return message_or_query


def _language(message_or_query: Message | CallbackQuery) -> str | None:
    return message_or_query.from_user.language_code if message_or_query.from_user else None
