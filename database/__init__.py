"""The core's data layer, with upstream Solobot's names (COMPAT.md §2).

``async_session_maker`` is the very object in ``database.db``: it is created unbound at import
and bound in place by ``database.db.bind(url)``, so importing it before ``bind`` is fine.
Importing this package opens no connection (the zygote pre-imports it before forking).
"""

from .admins import add_admin, get_admin_ids, get_admin_role, is_admin
from .bans import ban_user, create_blocked_user, delete_blocked_user, is_user_banned, is_user_blocked, unban_user
from .coupons import (
    apply_percent_coupon,
    check_coupon_usage,
    claim_coupon,
    create_coupon,
    create_coupon_usage,
    delete_coupon,
    get_all_coupons,
    get_coupon_by_code,
    update_coupon_usage_count,
)
from .db import async_session_maker, bind, dispose
from .init_db import init_db
from .keys import (
    delete_key,
    get_client_id_by_email,
    get_key_by_email,
    get_key_count,
    get_key_details,
    get_keys,
    get_non_frozen_key_rows,
    get_non_frozen_keys,
    store_key,
    update_key_expiry,
    update_key_notified,
)
from .notifications import add_notification, check_notification_time, delete_notification, get_last_notification_time
from .payments import add_payment, get_last_payments, get_payment_by_id, get_payment_by_payment_id, update_payment_status
from .referrals import (
    add_referral,
    get_active_referrals,
    get_referral_by_referred_id,
    get_referral_count,
    get_referral_stats,
    get_referrals_by_level,
    get_total_referral_bonus,
    get_total_referrals,
    get_user_referral_count,
    mark_referral_reward_issued,
)
from .servers import create_server, get_server_by_name, get_servers
from .tariffs import create_tariff, get_tariff_by_id, get_tariffs
from .temporary_data import clear_temporary_data, create_temporary_data, get_temporary_data
from .users import (
    add_user,
    check_user_exists,
    get_balance,
    get_trial,
    get_user_snapshot,
    set_user_balance,
    update_balance,
    update_trial,
)

__all__ = [
    "add_admin",
    "add_notification",
    "add_payment",
    "add_referral",
    "add_user",
    "apply_percent_coupon",
    "async_session_maker",
    "ban_user",
    "bind",
    "check_coupon_usage",
    "check_notification_time",
    "check_user_exists",
    "claim_coupon",
    "clear_temporary_data",
    "create_blocked_user",
    "create_coupon",
    "create_coupon_usage",
    "create_server",
    "create_tariff",
    "create_temporary_data",
    "delete_blocked_user",
    "delete_coupon",
    "delete_key",
    "delete_notification",
    "dispose",
    "get_active_referrals",
    "get_admin_ids",
    "get_admin_role",
    "get_all_coupons",
    "get_balance",
    "get_client_id_by_email",
    "get_coupon_by_code",
    "get_key_by_email",
    "get_key_count",
    "get_key_details",
    "get_keys",
    "get_last_notification_time",
    "get_last_payments",
    "get_non_frozen_key_rows",
    "get_non_frozen_keys",
    "get_payment_by_id",
    "get_payment_by_payment_id",
    "get_referral_by_referred_id",
    "get_referral_count",
    "get_referral_stats",
    "get_referrals_by_level",
    "get_server_by_name",
    "get_servers",
    "get_tariff_by_id",
    "get_tariffs",
    "get_temporary_data",
    "get_total_referral_bonus",
    "get_total_referrals",
    "get_trial",
    "get_user_referral_count",
    "get_user_snapshot",
    "init_db",
    "is_admin",
    "is_user_banned",
    "is_user_blocked",
    "mark_referral_reward_issued",
    "set_user_balance",
    "store_key",
    "unban_user",
    "update_balance",
    "update_coupon_usage_count",
    "update_key_expiry",
    "update_key_notified",
    "update_payment_status",
    "update_trial",
]
