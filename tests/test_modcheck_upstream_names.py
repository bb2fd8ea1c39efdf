"""SB017: a module importing upstream Solobot names that do not exist here is told, per name,
why and what to use instead (from the census); names that exist, and secrets (SB015's), are not."""

from __future__ import annotations

from pathlib import Path

from modcheck import check_module
from tests.test_modcheck import line_of, write_module


def test_missing_upstream_names_are_reported_with_the_replacement(tmp_path: Path) -> None:
    folder = write_module(
        tmp_path,
        router__py="""
            import config
            from aiogram import Router
            from config import API_TOKEN, SUPPORT_CHAT_URL, WEBHOOK_HOST, WEBHOOK_PATH
            from handlers.payments.yookassa.handlers import router as yookassa
            from handlers.texts import GIFT_CHOICE, get_about_vpn
            from handlers.utils import format_days, edit_or_send_message

            router = Router()


            def link():
                return config.BACKUP_CHANNEL_ID, config.ADMIN_ID
            """,
    )
    findings = [f for f in check_module(folder) if f.rule == "SB017"]
    by_line = {(f.line, f.message.split(" does not exist")[0]) for f in findings}
    assert by_line == {
        (line_of(folder, "router.py", "WEBHOOK_PATH"), "upstream's config.WEBHOOK_PATH"),
        (line_of(folder, "router.py", "yookassa"), "upstream's handlers.payments.yookassa.handlers.router"),
        (line_of(folder, "router.py", "GIFT_CHOICE"), "upstream's handlers.texts.GIFT_CHOICE"),
        (line_of(folder, "router.py", "BACKUP_CHANNEL_ID"), "upstream's config.BACKUP_CHANNEL_ID"),
    }
    webhook = next(f for f in findings if "WEBHOOK_PATH" in f.message)
    assert "Instead: A module serves HTTP with `get_webhook_data()`" in webhook.message and "WEBHOOK_HOST" in webhook.message
    # API_TOKEN is a secret: SB015 reports it, once.
    assert [f.rule for f in check_module(folder) if "API_TOKEN" in f.message] == ["SB015"]


def test_a_module_using_only_provided_names_has_no_sb017(tmp_path: Path) -> None:
    folder = write_module(
        tmp_path,
        router__py="""
            from aiogram import Router
            from database import get_tariffs_for_cluster
            from handlers.coupons import activate_coupon
            from handlers.keys.key_create import create_key
            from handlers.payments.currency_rates import format_for_user

            router = Router()
            """,
    )
    assert [f for f in check_module(folder) if f.rule == "SB017"] == []
