"""Core user-facing texts (Russian, HTML parse mode). Formatting placeholders use ``str.format``."""

WELCOME = (
    "<b>👋 Добро пожаловать!</b>\n\n"
    "Быстрый и надёжный VPN: подключение за минуту, без ограничений скорости.\n"
    "Выберите действие в меню ниже."
)
ABOUT_VPN = (
    "<b>ℹ️ О сервисе</b>\n\n"
    "Мы выдаём персональную ссылку-подписку для приложений V2Ray/Xray "
    "(Happ, v2RayTun, Streisand, Hiddify). Ссылка работает на всех ваших устройствах.\n\n"
    "{trial_line}"
)
ABOUT_TRIAL_AVAILABLE = "🎁 Вам доступна бесплатная пробная подписка."
ABOUT_TRIAL_USED = "Пробная подписка уже использована — продлите доступ в личном кабинете."

PROFILE = (
    "<b>👤 Профиль: {username}</b>\n\n"
    "🆔 ID: <code>{chat_id}</code>\n"
    "💰 Баланс: <b>{balance} ₽</b>\n"
    "🔑 Подписок: <b>{key_count}</b>\n"
    "👥 Приглашено друзей: <b>{referral_count}</b>"
)

NO_KEYS = "<b>📋 Мои подписки</b>\n\nУ вас пока нет подписок. Оформите пробную подписку или пополните баланс."
KEYS_LIST = "<b>📋 Мои подписки</b>\n\nВыберите подписку, чтобы открыть её карточку:"
KEY_CARD = "<b>🔑 Подписка {key_name}</b>\n\n🔗 Ссылка: <code>{link}</code>\n⏰ Действует до: <b>{expiry}</b>\n{days_left}"
KEY_FROZEN = "❄️ Подписка заморожена."
KEY_EXPIRED = "⛔ Срок действия истёк."
KEY_DAYS_LEFT = "⏳ Осталось: <b>{left}</b>"
KEY_NOT_FOUND = "Подписка не найдена или была удалена."
CONNECT_TV = (
    "<b>📺 Подключение на телевизоре</b>\n\n"
    "1. Установите приложение Happ или v2RayTun на телевизор.\n"
    "2. Добавьте подписку по ссылке:\n<code>{link}</code>\n"
    "3. Выберите сервер и подключитесь."
)

TRIAL_ALREADY_USED = "Пробная подписка уже использована."
TRIAL_DISABLED = "Пробная подписка сейчас недоступна."
TRIAL_FAILED = "Не удалось создать подписку, попробуйте позже."
KEY_CREATED = (
    "<b>✅ Подписка создана!</b>\n\n"
    "🔗 Ваша ссылка:\n<code>{link}</code>\n\n"
    "⏰ Действует до: <b>{expiry}</b>\n"
    "Добавьте ссылку в приложение — инструкции в личном кабинете."
)

RENEW_CHOOSE = "<b>⏳ Продление подписки {key_name}</b>\n\n💰 Ваш баланс: <b>{balance} ₽</b>\nВыберите тариф:"
RENEW_NO_TARIFFS = "Тарифы для продления пока не настроены. Обратитесь в поддержку."
RENEW_NOT_ENOUGH = (
    "<b>Недостаточно средств</b>\n\nТариф стоит {price} ₽, на балансе {balance} ₽. Пополните баланс на {missing} ₽."
)
RENEW_NOT_ENOUGH_SHORT = "Недостаточно средств на балансе."
RENEW_FAILED = "Не удалось продлить подписку, деньги возвращены на баланс. Попробуйте позже."
RENEW_DONE = "<b>✅ Подписка {key_name} продлена</b>\n\nДействует до: <b>{expiry}</b>"

BALANCE = "<b>💰 Баланс</b>\n\nНа вашем счету: <b>{balance} ₽</b>"
PAY_MENU = "<b>➕ Пополнение баланса</b>\n\nВыберите способ оплаты:"
PAY_NO_PROVIDERS = "Способы оплаты сейчас недоступны. Обратитесь в поддержку."
PAY_CHOOSE_AMOUNT = "<b>{title}</b>\n\nВыберите сумму пополнения:"
PAY_INVOICE = "<b>{title}</b>\n\nСумма: <b>{amount} {currency}</b>\nНажмите кнопку ниже, чтобы оплатить."
PAY_FAILED = "Не удалось создать платёж, попробуйте другой способ."
PAYMENT_SUCCESS = "<b>✅ Оплата получена</b>\n\nБаланс пополнен на <b>{amount} ₽</b>."
FAST_FLOW_UNAVAILABLE = "Этот способ оплаты сейчас недоступен."

INVITE = "<b>👥 Пригласите друзей</b>\n\nВаша реферальная ссылка:\n<code>{link}</code>\n\nПриглашено друзей: <b>{count}</b>"
INSTRUCTIONS = (
    "<b>📘 Как подключиться</b>\n\n"
    "1. Установите приложение: Happ или v2RayTun (Android, iOS, Windows, macOS).\n"
    "2. Откройте «Мои подписки» и скопируйте ссылку.\n"
    "3. В приложении нажмите «+» → «Импорт из буфера обмена».\n"
    "4. Включите подключение."
)

STALE_BUTTON = "Кнопка устарела. Откройте меню заново."
STALE_BUTTON_MESSAGE = "Эта кнопка больше не работает. Вернитесь в меню:"
UNKNOWN_TEXT = "Я не понял сообщение. Откройте меню командой /start."
NOT_ADMIN = "Недостаточно прав."

ADMIN_PANEL = "<b>🔧 Панель администратора</b>\n\nРоль: <b>{role}</b>"
ADMIN_STATS = (
    "<b>📊 Статистика</b>\n\n"
    "👤 Пользователей: <b>{users}</b>\n"
    "🔑 Подписок: <b>{keys}</b> (активных: <b>{active_keys}</b>)\n"
    "💳 Оплат: <b>{payments}</b> на <b>{payments_sum} ₽</b>"
)
ADMIN_MAINTENANCE = "🛠 Режим обслуживания: <b>{state}</b>"
MAINTENANCE_ON = "Режим обслуживания включён"
MAINTENANCE_OFF = "Режим обслуживания выключен"
ADMIN_SEARCH_USER = "Отправьте Telegram ID пользователя:"
ADMIN_USER_NOT_FOUND = "Пользователь не найден."
ADMIN_USER_CARD = (
    "<b>👤 Пользователь {tg_id}</b>\n\n"
    "Имя: {name}\n"
    "💰 Баланс: <b>{balance} ₽</b>\n"
    "🔑 Подписок: <b>{key_count}</b>\n"
    "Статус: <b>{status}</b>"
)


# --- upstream's text names modules import (the same names and placeholders; this project's
# wording). Upstream operators edit their handlers/texts.py; here these are the defaults. -----


def _config(name: str, default: str = "") -> str:
    import config  # read at call time: the host installs its settings after this file is imported

    return str(getattr(config, name, default) or default)


WELCOME_TEXT = WELCOME
#: Top-up amount buttons (upstream marks it obsolete): ``amount|N`` opens the pay menu for N ₽.
PAYMENT_OPTIONS = [{"text": f"{amount} ₽", "callback_data": f"amount|{amount}"} for amount in (100, 300, 500, 1000)]


def get_about_vpn(bot_version: str) -> str:
    """The "about" screen text; ``bot_version`` is shown at the bottom as upstream does."""
    text = ABOUT_VPN.format(trial_line="").rstrip()
    return f"{text}\n\n<i>Версия бота: {bot_version}</i>" if bot_version else text


def profile_message_send(username: str, tg_id: int, balance_txt: str, key_count: int) -> str:
    return (
        f"<b>👤 Профиль: {username}</b>\n\n"
        f"<blockquote>🆔 ID: <code>{tg_id}</code>\n💰 Баланс: {balance_txt}\n🔑 Подписок: {key_count}</blockquote>"
    )


def get_referral_link(user_id: int) -> str:
    return f"https://t.me/{_config('USERNAME_BOT').lstrip('@')}?start=referral_{user_id}"


def _tariff_lines(tariff_name: str, traffic_limit: int | None, device_limit: int | None, subgroup_title: str) -> str:
    lines = [f"📁 Группа: {subgroup_title}"] if subgroup_title and subgroup_title.strip() else []
    lines += [f"🕒 Тариф: {tariff_name}"] if tariff_name else []
    lines += [f"📊 Трафик: {traffic_limit} ГБ"] if traffic_limit and traffic_limit > 0 else []
    lines += [f"📱 Устройств: {device_limit}"] if device_limit and device_limit > 0 else []
    return "<blockquote>" + "\n".join(lines) + "</blockquote>\n" if lines else ""


def key_message_success(
    connection_link: str, tariff_name: str = "", traffic_limit: int = 0, device_limit: int = 0, subgroup_title: str = ""
) -> str:
    """The "subscription created" message with the link and the tariff's limits."""
    return (
        f"<b>✅ Подписка создана!</b>\n\n<code>{connection_link}</code>\n\n"
        + _tariff_lines(tariff_name, traffic_limit, device_limit, subgroup_title)
        + "Добавьте ссылку в приложение — инструкции в личном кабинете."
    )


def key_message(
    key: str,
    formatted_expiry_date: str,
    days_left_message: str,
    server_name: str,
    country: str | None = None,
    hwid_count: int = 0,
    tariff_name: str = "",
    traffic_limit: int = 0,
    device_limit: int = 0,
    subgroup_title: str = "",
) -> str:
    """The key card text (upstream's parameters; ``server_name`` is not shown, as upstream)."""
    text = f"<b>🔑 Ваша подписка:</b>\n\n<code>{key}</code>\n\n"
    text += f"<blockquote>{days_left_message}\nИстекает: {formatted_expiry_date}</blockquote>\n"
    if country:
        text += f"🌍 Локация: {country}\n"
    if device_limit and device_limit > 0 and hwid_count > 0:
        text += f"📱 Подключено устройств: {hwid_count}\n"
    return text + _tariff_lines(tariff_name, traffic_limit, device_limit, subgroup_title)


def get_renewal_message(
    tariff_name: str = "", traffic_limit: int = 0, device_limit: int = 0, expiry_date: str = "", subgroup_title: str = ""
) -> str:
    text = "✅ Подписка продлена\n\n" + _tariff_lines(tariff_name, traffic_limit, device_limit, subgroup_title)
    return text + (f"📅 Действует до <b>{expiry_date}</b>" if expiry_date and expiry_date.strip() else "")


KEY_MESSAGE = "<b>🔑 Ваша подписка:</b>\n\n<code>{}</code>\n\n"
CREATING_CONNECTION_MSG = "⏳ Создаём подписку, подождите…"
SELECT_TARIFF_PLAN_MSG = "<b>💳 Выберите тариф:</b>"
INSUFFICIENT_FUNDS_MSG = "💳 Недостаточно средств. Пополните баланс на {required_amount}."
INSUFFICIENT_FUNDS_RENEWAL_MSG = "💳 Недостаточно средств для продления. Пополните баланс на {required_amount}."
NO_SUBSCRIPTIONS_MSG = NO_KEYS
KEY_NOT_FOUND_MSG = "🔍 Подписка не найдена."
DAYS_LEFT_MESSAGE = "<b>🕒 Статус подписки:</b>\n🔴 Истекла"
SELECT_SUBS = "Выберите подписку для продления или купите новую"
PLAN_SELECTION_MSG = "<b>📋 Выберите тариф продления</b>\n\n💰 Баланс: {balance}\n📅 Подписка действует до: {expiry_date}"
PAYMENT_SUCCESS_MESSAGE = "✅ Баланс пополнен на {amount}.{cashback_text} Спасибо!"
AMOUNT_TEXT = "Выберите сумму пополнения:"
PAYMENT_METHODS_MSG = PAY_MENU
BALANCE_MANAGEMENT_TEXT = "<b>💰 Баланс</b>\n\nНа вашем счету: {balance}"
BALANCE_HISTORY_HEADER = "<b>📊 Последние пополнения:</b>\n\n"
ENTER_SUM = "Введите сумму пополнения:"
FAST_PAY_NOT_ENOUGH = "💳 Для оплаты не хватает {amount}"
FAST_PAY_CHOOSE_CURRENCY = "Выберите валюту платежа:"
FAST_PAY_CHOOSE_PROVIDER = "Выберите способ оплаты:"
FALLBACK_MESSAGE = UNKNOWN_TEXT
KEY_EXPIRY_24H = (
    "<b>Подписка {email}</b>\n\n<blockquote>{hours_left_formatted}\nДата окончания: {formatted_expiry_date}</blockquote>\n\n"
    "<i>Продлите подписку, чтобы не потерять доступ.</i>"
)
KEY_EXPIRY_10H = KEY_EXPIRY_24H
KEY_EXPIRED_DELAY_MSG = "⚠️ Подписка {email} истекла. Если её не продлить, она будет удалена через {time_formatted}."
KEY_EXPIRED_NO_DELAY_MSG = "⚠️ Подписка {email} истекла. Продлите её, чтобы вернуть доступ."
KEY_DELETED_MSG = "Подписка {email} удалена, так как не была продлена. Оформите новую в личном кабинете."
ZERO_TRAFFIC_MSG = (
    "⚠️ <b>Подписка {email} активна, но не используется.</b>\n\nЕсли не получается подключиться — напишите в поддержку, поможем."
)
SUBSCRIPTION_REQUIRED_MSG = "Чтобы пользоваться ботом, подпишитесь на наш канал."
NOT_SUBSCRIBED_YET_MSG = "Вы ещё не подписались на канал."
SUBSCRIPTION_CONFIRMED_MSG = "Подписка на канал подтверждена!"
SUBSCRIPTION_CHECK_ERROR_MSG = "Не удалось проверить подписку, попробуйте ещё раз."
REFERRAL_SUCCESS_MSG = "Вы стали рефералом пользователя с ID {referrer_tg_id}"
NEW_REFERRAL_NOTIFICATION = "🎉 Ваш реферал {referred_id} зарегистрировался!"
INVITE_TEXT_NON_INLINE = "\nПодключайся к быстрому VPN вместе со мной:\n\n{referral_link}"
CONNECT_TV_TEXT = CONNECT_TV
CHOOSE_DEVICE_TEXT = "📲 <b>Выберите устройство:</b>"
INSTRUCTIONS_TRIAL = "📲 <b>Подключите устройство</b> кнопкой ниже и следуйте инструкции.\n\n💬 Вопросы — в поддержку."
ADD_SUBSCRIPTION_HINT = "\n<blockquote>Нажмите «Купить подписку», чтобы оформить новую.</blockquote>"
COUPON_INPUT_PROMPT = "<b>🎫 Введите код купона:</b>"
COUPON_NOT_FOUND_MSG = "<b>❌ Купон не найден</b> или его лимит исчерпан. Проверьте код и попробуйте снова."
COUPON_ALREADY_USED_MSG = "<b>❌ Вы уже активировали этот купон.</b> Купон можно активировать один раз."
COUPONS_DAYS_MESSAGE = "<b>🔑 Выберите подписку, которую продлит купон:</b>\n\n<blockquote>"
COUPON_DAYS_ACTIVATED_MSG = "✅ Купон активирован: подписка <b>{alias}</b> продлена на {days} до {expiry}."
