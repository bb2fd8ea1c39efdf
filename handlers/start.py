"""``/start`` (with deep-link payloads), the start menu and the "about" screen."""

from __future__ import annotations

import html

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import CommandObject, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message, User
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy.ext.asyncio import AsyncSession

from database import add_referral, check_user_exists, get_referral_by_referred_id, get_trial
from hooks.hook_buttons import insert_hook_buttons
from hooks.hooks import run_hooks
from logger import logger

from . import buttons, texts
from .utils import ShownMessage, answer_callback, edit_or_send_message, setting
from .wording import extract_user_data

router = Router(name="core_start")

# The screens modules hook buttons into are text messages: the seed's examples edit them with
# ``callback.message.edit_text(...)``, which Telegram refuses on a photo. Set a path to show a picture.
START_IMAGE: str | None = None
REFERRAL_PREFIXES = ("referral_", "ref")


@router.message(CommandStart())
async def start_command(
    message: Message, state: FSMContext, session: AsyncSession, admin: bool = False, command: CommandObject | None = None, **data
) -> None:
    await state.clear()
    user = message.from_user
    if user is not None and command is not None and command.args:
        await handle_start_payload(message, state, session, user, command.args, is_new_user=data.get("is_new_user", True))
    await run_hooks("start_entry", message=message, event=message, state=state, session=session, admin=admin)
    if setting("SHOW_START_MENU_ONCE", False) and not data.get("is_new_user", True):
        from .profile import process_callback_view_profile  # the profile imports this module

        await process_callback_view_profile(message, state, admin, session)
        return
    await show_start_menu(message, admin, session)


@router.callback_query(F.data == "start")
async def start_callback(callback: CallbackQuery, state: FSMContext, session: AsyncSession, admin: bool = False) -> None:
    await state.clear()
    await answer_callback(callback)
    await run_hooks("start_entry", message=callback.message, event=callback, state=state, session=session, admin=admin)
    await show_start_menu(callback.message, admin, session, chat_id=callback.from_user.id)


async def handle_start_payload(
    message: Message, state: FSMContext, session: AsyncSession, user: User, payload: str, *, is_new_user: bool
) -> None:
    """Modules see every ``-``-separated part first (``start_link``); then the core's referral."""
    user_data = extract_user_data(user)
    parts = [part for part in payload.split("-") if part]
    for part in parts:
        await run_hooks("start_link", message=message, state=state, session=session, user_data=user_data, part=part)
    for part in parts:
        if "coupons" in part:  # upstream's coupon link: coupons_<CODE>
            from .coupons import activate_coupon  # the coupons screen imports the profile, which imports this

            await activate_coupon(message, state, session, part.split("coupons", 1)[1].strip("_"), user_data=user_data)
            continue
        referrer = parse_referrer(part)
        if referrer is not None and is_new_user:
            await credit_referral(message.bot, session, user.id, referrer)


def parse_referrer(part: str) -> int | None:
    for prefix in REFERRAL_PREFIXES:
        if part.startswith(prefix) and part[len(prefix) :].isdigit():
            return int(part[len(prefix) :])
    return None


async def credit_referral(bot: Bot | None, session: AsyncSession, referred: int, referrer: int) -> bool:
    """Record who invited ``referred`` (once per user, never oneself) and tell the inviter."""
    if referred == referrer or not await check_user_exists(session, referrer):
        return False
    if await get_referral_by_referred_id(session, referred) is not None or not await add_referral(session, referred, referrer):
        return False
    logger.info("[start] user %s was invited by %s", referred, referrer)
    if bot is not None:
        try:
            await bot.send_message(referrer, "🎉 По вашей ссылке присоединился новый пользователь!")
        except TelegramAPIError as e:
            logger.debug("referral notice to %s failed: %s", referrer, e)
    return True


async def show_start_menu(
    message: ShownMessage,
    admin: bool,
    session: AsyncSession,
    trial: int | None = None,
    key_count: int | None = None,
    *,
    chat_id: int | None = None,
) -> None:
    """The start screen (upstream signature; modules call it to go back). ``trial`` and
    ``key_count`` are upstream's precomputed values; the menu reads them itself."""
    chat_id = chat_id or (message.chat.id if message is not None else None)
    if chat_id is None:  # a button under an inline-mode message: no chat to show the menu in
        return
    markup = await build_start_menu(chat_id, session)
    await edit_or_send_message(
        message, texts.WELCOME, reply_markup=markup, media_path=START_IMAGE, force_text=START_IMAGE is None
    )


async def build_start_menu(chat_id: int, session: AsyncSession) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.row(InlineKeyboardButton(text=buttons.PROFILE, callback_data="profile"))
    if trial_enabled() and await get_trial(session, chat_id) == 0:
        builder.row(InlineKeyboardButton(text=buttons.TRIAL_SUB, callback_data="create_key"))
    builder = insert_hook_buttons(builder, await run_hooks("start_menu", chat_id=chat_id, session=session))
    builder.row(InlineKeyboardButton(text=buttons.ABOUT_VPN, callback_data="about_vpn"))
    support = _url_setting("SUPPORT_CHAT_URL")
    channel = _url_setting("CHANNEL_URL") if setting("CHANNEL_EXISTS", False) else None
    extra = [InlineKeyboardButton(text=buttons.SUPPORT, url=support)] if support else []
    extra += [InlineKeyboardButton(text=buttons.CHANNEL, url=channel)] if channel else []
    if extra:
        builder.row(*extra)
    return builder.as_markup()


@router.callback_query(F.data == "about_vpn")
async def about_vpn(callback: CallbackQuery, session: AsyncSession) -> None:
    chat_id = callback.from_user.id
    trial = await get_trial(session, chat_id)
    text = texts.ABOUT_VPN.format(trial_line=texts.ABOUT_TRIAL_AVAILABLE if trial == 0 else texts.ABOUT_TRIAL_USED)
    replaced = await run_hooks("about_text", chat_id=chat_id, trial=trial, session=session)
    if replaced and isinstance(replaced[0], str):
        text = replaced[0]
    builder = InlineKeyboardBuilder()
    support = _url_setting("SUPPORT_CHAT_URL")
    if support:
        builder.row(InlineKeyboardButton(text=buttons.SUPPORT, url=support))
    builder = insert_hook_buttons(builder, await run_hooks("about_menu", chat_id=chat_id, trial=trial, session=session))
    builder.row(InlineKeyboardButton(text=buttons.BACK, callback_data="start"))
    await answer_callback(callback)
    await edit_or_send_message(callback.message, text, reply_markup=builder.as_markup())


def trial_enabled() -> bool:
    """``TRIAL_TIME`` (days) 0 turns the trial off."""
    return int(setting("TRIAL_TIME", 3) or 0) > 0


def _url_setting(name: str) -> str | None:
    value = setting(name)
    if isinstance(value, str) and value.startswith(("https://", "http://", "tg://")):
        return value
    return None


def user_display_name(user: User | None) -> str:
    if user is None:
        return "Пользователь"
    return html.escape(user.full_name or (f"@{user.username}" if user.username else "Пользователь"))


__all__ = ("build_start_menu", "router", "show_start_menu", "start_command")
