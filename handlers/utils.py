"""Helpers every screen uses; ``edit_or_send_message`` is part of the module-facing API."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from pathlib import Path
from typing import Any, TypeGuard

from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InaccessibleMessage,
    InlineKeyboardMarkup,
    InputFile,
    InputMediaAnimation,
    InputMediaPhoto,
    InputMediaVideo,
    LinkPreviewOptions,
    Message,
)

from logger import logger

# Upstream's ``handlers.utils`` names that live in their own files here.
from .clusters import (  # noqa: F401
    ALLOWED_GROUP_CODES,
    check_server_key_limit,
    generate_random_email,
    get_least_loaded_cluster,
    handle_error,
    is_full_remnawave_cluster,
)
from .wording import (  # noqa: F401
    RUSSIAN_MONTHS,
    convert_to_bytes,
    extract_user_data,
    format_days,
    format_discount_time_left,
    format_hours,
    format_minutes,
    format_months,
    get_media_type,
    get_plural_form,
    get_russian_month,
    get_username,
    sanitize_key_name,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MEDIA_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".mp4", ".mov")
InputMedia = InputMediaPhoto | InputMediaVideo | InputMediaAnimation
_MEDIA_TYPES: dict[str, type[InputMedia]] = {".gif": InputMediaAnimation, ".mp4": InputMediaVideo, ".mov": InputMediaVideo}
# What a callback's ``message`` is: None for a button under an inline-mode message, inaccessible when
# the message is too old for the bot to see (it can still answer in that chat).
ShownMessage = Message | InaccessibleMessage | None

# path → Telegram file_id of an upload, so a picture is uploaded once rather than on every screen.
_file_ids: OrderedDict[str, str] = OrderedDict()
_FILE_ID_CACHE_SIZE = 256


def setting(name: str, default: Any = None) -> Any:
    """A value from ``config`` (read at call time, so tests and the host may change it)."""
    try:
        import config
    except ImportError:
        return default
    return getattr(config, name, default)


def format_money(value: float) -> str:
    """``150`` / ``99.5``: no trailing zeros."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def not_modified(error: TelegramBadRequest) -> bool:
    return "message is not modified" in str(error)


async def answer_callback(callback: CallbackQuery, text: str | None = None, show_alert: bool = False) -> None:
    """Answer a callback query, ignoring "already answered / too old" (never worth failing for)."""
    try:
        await callback.answer(text, show_alert=show_alert)
    except TelegramAPIError as e:
        logger.debug("callback answer failed: %s", e)


def resolve_media(media_path: str | None) -> Path | None:
    """The picture file to show: ``media_path`` as is, relative to the project, or with another extension."""
    if not media_path:
        return None
    for base in (Path(media_path), PROJECT_ROOT / media_path):
        if base.is_file():
            return base
        for ext in MEDIA_EXTENSIONS:
            candidate = base.with_suffix(ext)
            if candidate.is_file():
                return candidate
    return None


def callback_args(callback: CallbackQuery, count: int) -> list[str]:
    """The ``count`` fields after the prefix of ``prefix|a|b`` callback data; "" for a missing one."""
    fields = (callback.data or "").split("|", count)[1:]
    return fields + [""] * (count - len(fields))


async def edit_or_send_message(
    target_message: ShownMessage,
    text: str,
    reply_markup: InlineKeyboardMarkup | None = None,
    media_path: str | None = None,
    disable_web_page_preview: bool = False,
    force_text: bool = False,
    disable_cache: bool = False,
) -> Message | None:
    """Show ``text`` in place of ``target_message`` (its text, caption, or media when ``media_path``
    is given); a new message is sent when the message cannot be edited. "Not modified" is success.

    Returns the message sent or edited (None when nothing changed, or when there is no chat to show it
    in: a button under an inline-mode message has no ``callback.message``).
    """
    if target_message is None:
        return None
    preview = LinkPreviewOptions(is_disabled=True) if disable_web_page_preview else None
    path = resolve_media(media_path)
    if path is not None:
        return await _show_media(target_message, text, reply_markup, path, disable_cache)
    if _editable(target_message):
        try:
            if target_message.caption is not None and not force_text:
                result = await target_message.edit_caption(caption=text, reply_markup=reply_markup, parse_mode=ParseMode.HTML)
            else:
                result = await target_message.edit_text(
                    text=text, reply_markup=reply_markup, parse_mode=ParseMode.HTML, link_preview_options=preview
                )
            return result if isinstance(result, Message) else None
        except TelegramBadRequest as e:
            if not_modified(e):
                return None
            logger.debug("edit failed, sending a new message: %s", e)
    return await target_message.answer(text, reply_markup=reply_markup, parse_mode=ParseMode.HTML, link_preview_options=preview)


def _editable(message: Message | InaccessibleMessage) -> TypeGuard[Message]:
    # Only the bot's own messages can be edited (and only when still accessible); skipping the
    # doomed call saves a round trip.
    return isinstance(message, Message) and (message.from_user is None or message.from_user.is_bot)


async def _show_media(
    target: Message | InaccessibleMessage,
    caption: str,
    reply_markup: InlineKeyboardMarkup | None,
    path: Path,
    disable_cache: bool,
) -> Message | None:
    media_class = _MEDIA_TYPES.get(path.suffix.lower(), InputMediaPhoto)
    key = str(path)
    cached = None if disable_cache else _file_ids.get(key)
    sources: list[str | None] = [cached] if cached else []
    sources.append(None)  # None: upload the file
    for source in sources:
        media: str | InputFile = source or BufferedInputFile(await asyncio.to_thread(path.read_bytes), filename=path.name)
        try:
            sent = await _edit_or_send_media(target, media_class, media, caption, reply_markup)
        except TelegramBadRequest as e:
            if not_modified(e):
                return None
            if source is None:
                raise
            _file_ids.pop(key, None)  # a stale file_id (another bot or server): upload again
            continue
        if sent is not None and not disable_cache:
            _remember(key, sent)
        return sent
    return None


async def _edit_or_send_media(
    target: Message | InaccessibleMessage,
    media_class: type[InputMedia],
    media: str | InputFile,
    caption: str,
    reply_markup: InlineKeyboardMarkup | None,
) -> Message | None:
    if _editable(target) and target.text is None:
        try:
            result = await target.edit_media(
                media_class(media=media, caption=caption, parse_mode=ParseMode.HTML), reply_markup=reply_markup
            )
            return result if isinstance(result, Message) else None
        except TelegramBadRequest as e:
            if not_modified(e):
                raise
            logger.debug("media edit failed, sending a new message: %s", e)
    if media_class is InputMediaVideo:
        return await target.answer_video(media, caption=caption, reply_markup=reply_markup, parse_mode=ParseMode.HTML)
    if media_class is InputMediaAnimation:
        return await target.answer_animation(media, caption=caption, reply_markup=reply_markup, parse_mode=ParseMode.HTML)
    return await target.answer_photo(media, caption=caption, reply_markup=reply_markup, parse_mode=ParseMode.HTML)


def _remember(key: str, message: Message) -> None:
    file_id = None
    if message.photo:
        file_id = message.photo[-1].file_id
    elif message.video:
        file_id = message.video.file_id
    elif message.animation:
        file_id = message.animation.file_id
    if file_id:
        _file_ids[key] = file_id
        _file_ids.move_to_end(key)
        while len(_file_ids) > _FILE_ID_CACHE_SIZE:
            _file_ids.popitem(last=False)
