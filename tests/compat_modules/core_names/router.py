# Imports upstream names a public module uses, without fallbacks, and shows what they give.
from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message

from config import DONATIONS_ENABLE, SHOW_START_MENU_ONCE, WEBHOOK_HOST
from handlers.admin.users.keyboard import AdminUserEditorCallback, build_editor_btn
from handlers.admin.users.users_handler import process_user_search
from handlers.coupons import CouponActivationState, activate_coupon
from handlers.keys.key_create import create_key
from handlers.keys.operations import renew_key_in_cluster
from handlers.payments.currency_rates import format_for_user
from handlers.payments.fast_payment_flow import try_fast_payment_flow
from handlers.tariffs.buy.key_tariffs import proceed_purchase_with_values
from handlers.texts import PAYMENT_OPTIONS, get_about_vpn
from handlers.utils import format_days, get_least_loaded_cluster
from hooks.processors import process_tariff_menu

router = Router()


@router.message(Command("names"))
async def names(message: Message, session):
    button = build_editor_btn("card", message.from_user.id)
    cluster = await get_least_loaded_cluster(session)
    tariff_buttons = await process_tariff_menu(
        group_code="basic", cluster_name=cluster, tg_id=message.from_user.id, session=session
    )
    lines = [
        f"days={format_days(21)}|{format_days(3)}",
        f"about={'Версия бота: 9.9' in get_about_vpn('9.9')}",
        f"options={PAYMENT_OPTIONS[0]['callback_data']}",
        f"flags={DONATIONS_ENABLE}|{SHOW_START_MENU_ONCE}",
        f"card={AdminUserEditorCallback.unpack(button.callback_data).action}|{callable(process_user_search)}",
        f"cluster={cluster}|{tariff_buttons}",
        f"coupons={CouponActivationState.waiting_for_coupon_code.state}|{callable(activate_coupon)}",
        f"renew={await renew_key_in_cluster('local', 'nokey', 'no-id', 0, 0, session)}",
        f"price={await format_for_user(session, message.from_user.id, 1500, 'ru')}",
        f"flow={all(map(callable, (create_key, try_fast_payment_flow, proceed_purchase_with_values)))}|{WEBHOOK_HOST!r}",
    ]
    await message.answer("\n".join(lines))
