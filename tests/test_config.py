"""config: validated settings for the host, secret-free upstream names for modules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import config
from config import ConfigError, Settings, apply_public_settings, load_settings, public_settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TOKEN = "123456:ABC-def_ghi"
DSN = "postgresql+asyncpg://bot:s3cret@db:5432/solobot"


def load(env: dict[str, str], **kwargs) -> Settings:
    return load_settings(env, env_file=None, **kwargs)


@pytest.fixture
def restore_public_names():
    saved = public_settings(load({}, require_token=False))
    before = {name: getattr(config, name) for name in saved}
    yield
    apply_public_settings({name: value for name, value in before.items()})


def test_defaults_with_only_a_token() -> None:
    settings = load({"BOT_TOKEN": TOKEN})
    assert settings.bot_token == TOKEN and settings.bot_id == 123456
    assert settings.database_url is None and settings.redis_url is None and settings.telegram_api_url is None
    assert settings.admin_ids == ()
    assert (settings.modules_dir, settings.web_host, settings.web_port, settings.data_dir) == (
        "modules",
        "127.0.0.1",
        8080,
        "storage",
    )
    assert settings.embedded_pg_dir == Path("storage/postgres")
    assert settings.trial_time == 3 and settings.notification_time > 0
    assert settings.referral_bonus_percentages[1] == 0.25


def test_values_are_parsed() -> None:
    settings = load(
        {
            "BOT_TOKEN": TOKEN,
            "ADMIN_IDS": "111, 222;333",
            "DATABASE_URL": "postgresql://u:p@h:5432/db",
            "TELEGRAM_API_URL": "http://127.0.0.1:8081/",
            "WEB_PORT": "9000",
            "REDIS_URL": "redis://localhost:6379/0",
            "CHANNEL_EXISTS": "yes",
            "TRIAL_TIME": "0",
            "REFERRAL_BONUS_PERCENTAGES": "0.3,0.1",
            "USERNAME_BOT": "my_vpn_bot",
        }
    )
    assert settings.admin_ids == (111, 222, 333)
    assert settings.database_url == "postgresql+asyncpg://u:p@h:5432/db"  # normalised to the asyncpg driver
    assert settings.telegram_api_url == "http://127.0.0.1:8081"
    assert settings.web_port == 9000 and settings.channel_exists is True and settings.trial_time == 0
    assert settings.referral_bonus_percentages == {1: 0.3, 2: 0.1}
    assert load({"REFERRAL_BONUS_PERCENTAGES": '{"1": 0.2, "3": 0.05}'}, require_token=False).referral_bonus_percentages == {
        1: 0.2,
        3: 0.05,
    }
    assert load({"DATABASE_URL": DSN}, require_token=False).database_url == DSN
    assert load({"ADMIN_ID": "5"}, require_token=False).admin_ids == (5,)  # upstream's singular spelling


def test_env_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(f"BOT_TOKEN={TOKEN}\nWEB_PORT=7000\nPROJECT_NAME=FromFile\n")
    settings = load_settings({"WEB_PORT": "7001"}, env_file=env_file)
    assert settings.bot_token == TOKEN and settings.web_port == 7001 and settings.project_name == "FromFile"
    assert load_settings({"BOT_TOKEN": TOKEN}, env_file=tmp_path / "missing.env").web_port == 8080


@pytest.mark.parametrize(
    ("env", "variable", "hint"),
    [
        ({}, "BOT_TOKEN", "123456:ABC"),
        ({"BOT_TOKEN": "   "}, "BOT_TOKEN", "missing"),
        ({"BOT_TOKEN": "not-a-token"}, "BOT_TOKEN", "123456:ABC"),
        ({"BOT_TOKEN": "123:"}, "BOT_TOKEN", "malformed"),
        ({"DATABASE_URL": "mysql://u@h/db"}, "DATABASE_URL", "postgresql+asyncpg://"),
        ({"DATABASE_URL": "localhost:5432"}, "DATABASE_URL", "postgresql+asyncpg://"),
        ({"ADMIN_IDS": "12,bob"}, "ADMIN_IDS", "'bob'"),
        ({"WEB_PORT": "http"}, "WEB_PORT", "whole number"),
        ({"WEB_PORT": "70000"}, "WEB_PORT", "at most 65535"),
        ({"TRIAL_TIME": "-1"}, "TRIAL_TIME", "at least 0"),
        ({"NOTIFICATION_TIME": "0"}, "NOTIFICATION_TIME", "at least 1"),
        ({"CHANNEL_EXISTS": "maybe"}, "CHANNEL_EXISTS", "true or false"),
        ({"SUPPORT_CHAT_URL": "t.me/support"}, "SUPPORT_CHAT_URL", "http"),
        ({"REFERRAL_BONUS_PERCENTAGES": "25%"}, "REFERRAL_BONUS_PERCENTAGES", "0.25"),
        ({"REFERRAL_BONUS_PERCENTAGES": "25"}, "REFERRAL_BONUS_PERCENTAGES", "between 0 and 1"),
        ({"REDIS_URL": "localhost"}, "REDIS_URL", "redis://"),
    ],
)
def test_invalid_values_give_one_line_naming_the_variable(env: dict[str, str], variable: str, hint: str) -> None:
    require_token = variable == "BOT_TOKEN"
    with pytest.raises(ConfigError) as caught:
        load({**({} if require_token else {"BOT_TOKEN": TOKEN}), **env})
    message = str(caught.value)
    assert message.startswith(variable + " ") and "\n" not in message
    assert hint in message


def test_token_never_appears_in_errors_or_repr() -> None:
    secret = "123456:" + "s" * 30
    with pytest.raises(ConfigError) as caught:
        load({"BOT_TOKEN": secret + " extra"})
    assert "sss" not in str(caught.value)
    settings = load({"BOT_TOKEN": secret, "DATABASE_URL": DSN})
    assert "sss" not in repr(settings) and "s3cret" not in repr(settings)


def test_tools_may_run_without_a_token() -> None:
    assert load({}, require_token=False).bot_token is None


def test_public_settings_carry_no_secrets_and_are_msgpack_friendly() -> None:
    import msgpack

    settings = load({"BOT_TOKEN": TOKEN, "DATABASE_URL": DSN, "REDIS_URL": "redis://:pw@r/0", "ADMIN_IDS": "1,2"})
    public = public_settings(settings)
    assert public["ADMIN_ID"] == [1, 2]
    assert {"USERNAME_BOT", "SUPPORT_CHAT_URL", "PROJECT_NAME", "CHANNEL_URL", "TRIAL_TIME", "NOTIFICATION_TIME"} <= set(public)
    flat = repr(public)
    assert TOKEN not in flat and "s3cret" not in flat and "pw@" not in flat
    assert msgpack.unpackb(msgpack.packb(public), strict_map_key=False) == public


def test_apply_public_settings_sets_names_and_ignores_the_rest(restore_public_names) -> None:
    early_admins = config.ADMIN_ID  # what `from config import ADMIN_ID` bound before the host loaded settings
    apply_public_settings({"ADMIN_ID": [7, 8], "SUPPORT_CHAT_URL": "https://t.me/help", "BOT_TOKEN": TOKEN, "DATABASE_URL": DSN})
    assert config.ADMIN_ID == [7, 8] and early_admins == [7, 8]
    assert config.SUPPORT_CHAT_URL == "https://t.me/help"
    assert not hasattr(config, "BOT_TOKEN") and not hasattr(config, "DATABASE_URL")


def test_module_level_names_never_hold_secrets_and_import_never_fails(tmp_path: Path) -> None:
    # A fresh interpreter with secrets and broken values in both the environment and .env:
    # the import must succeed with defaults, and no module attribute may hold a secret.
    (tmp_path / ".env").write_text(f"BOT_TOKEN={TOKEN}\nDATABASE_URL={DSN}\nUSERNAME_BOT=from_file\n")
    code = (
        "import config\n"
        "values = [repr(v) for k, v in vars(config).items() if not k.startswith('__')]\n"
        "blob = ' '.join(values)\n"
        f"assert {TOKEN!r} not in blob and 's3cret' not in blob, 'secret leaked'\n"
        "assert config.ADMIN_ID == [1, 2] and config.TRIAL_TIME == 3 and config.USERNAME_BOT == 'from_file'\n"
        "from config import ADMIN_ID, CHANNEL_URL, PROJECT_NAME, SUPPORT_CHAT_URL, USERNAME_BOT\n"
        "print('ok')\n"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(PROJECT_ROOT), "BOT_TOKEN": TOKEN, "DATABASE_URL": DSN}
    env |= {"ADMIN_IDS": "1,2", "TRIAL_TIME": "many", "WEB_PORT": "x"}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_modules_state_file_follows_data_dir_unless_set() -> None:
    assert load({}, require_token=False).modules_state_path == Path("storage/modules_state.json")
    assert load({"DATA_DIR": "/srv/bot"}, require_token=False).modules_state_path == Path("/srv/bot/modules_state.json")
    overridden = load({"DATA_DIR": "/srv/bot", "MODULES_STATE_FILE": "/etc/solobot/state.json"}, require_token=False)
    assert overridden.modules_state_path == Path("/etc/solobot/state.json")


def test_runtime_state_store_uses_the_same_default(tmp_path: Path, monkeypatch) -> None:
    from runtime.supervision.state_store import StateStore

    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.delenv("MODULES_STATE_FILE", raising=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    store = StateStore()
    store.set_enabled("parked", False)
    assert store.path == load_settings(require_token=False).modules_state_path == tmp_path / "data" / "modules_state.json"
    assert '"parked"' in store.path.read_text()


def test_missing_token_message_is_the_one_constant() -> None:
    with pytest.raises(ConfigError) as raised:
        load({})
    assert str(raised.value) == config.MISSING_BOT_TOKEN
    with pytest.raises(ConfigError) as raised:
        load({}, require_token=False).required_bot_token()
    assert str(raised.value) == config.MISSING_BOT_TOKEN
    assert load({"BOT_TOKEN": TOKEN}).required_bot_token() == TOKEN


def test_a_bad_value_from_env_file_names_its_line(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(f"# bot\nBOT_TOKEN={TOKEN}\n\nexport WEB_PORT=http\n")
    with pytest.raises(ConfigError) as caught:
        load_settings({}, env_file=env_file)
    assert str(caught.value) == "WEB_PORT must be a whole number, got 'http' (set in .env:4)"
    # the real environment wins, and then there is no .env line to point at
    with pytest.raises(ConfigError) as caught:
        load_settings({"WEB_PORT": "70000"}, env_file=env_file)
    assert str(caught.value) == "WEB_PORT must be at most 65535, got '70000'"


def test_errors_use_the_spelling_the_operator_wrote_and_name_every_bad_variable() -> None:
    with pytest.raises(ConfigError) as caught:
        load({"API_TOKEN": TOKEN, "ADMIN_ID": "12,bob", "TRIAL_TIME": "many", "CHANNEL_EXISTS": "maybe"})
    message = str(caught.value)
    assert message.startswith("ADMIN_ID must be comma-separated Telegram user ids")  # upstream's singular spelling
    assert "got 'bob' in '12,bob'" in message
    assert message.endswith("; also invalid: CHANNEL_EXISTS, TRIAL_TIME") and "\n" not in message


@pytest.mark.parametrize(
    ("raw", "hint"),
    [
        ('{"1": 0.2', "not valid JSON"),
        ('{"0": 0.1}', "got '0' in"),  # levels start at 1
        ("0.3,x", "got 'x' in '0.3,x'"),
    ],
)
def test_referral_shares_errors_show_the_item(raw: str, hint: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load({"REFERRAL_BONUS_PERCENTAGES": raw}, require_token=False)
    assert str(caught.value).startswith("REFERRAL_BONUS_PERCENTAGES ") and hint in str(caught.value)


def test_settings_built_in_code_are_validated_too() -> None:
    assert Settings(bot_token=TOKEN, admin_ids=(5,), web_port=0).web_port == 0
    with pytest.raises(ValueError, match=r"web_port|WEB_PORT"):
        Settings(web_port=-1)
    with pytest.raises(ValueError):
        Settings(bot_token=TOKEN).web_port = 1  # type: ignore[misc]  # frozen: assigning is the mistake under test


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"WEBHOOK_URL": "https://bot.example.org/telegram/webhook"}, "WEBHOOK_SECRET is missing: webhook mode"),
        ({"WEBHOOK_URL": "http://bot.example.org/hook", "WEBHOOK_SECRET": "s"}, "WEBHOOK_URL must be an https:// URL"),
        ({"WEBHOOK_URL": "https://bot.example.org:8080/hook", "WEBHOOK_SECRET": "s"}, "WEBHOOK_URL uses port 8080"),
        ({"WEBHOOK_URL": "https://bot.example.org/hook", "WEBHOOK_SECRET": "has space"}, "WEBHOOK_SECRET must be 1-256"),
        ({"WEBHOOK_URL": "https://bot.example.org/hook", "WEBHOOK_SECRET": "x" * 257}, "WEBHOOK_SECRET must be 1-256"),
    ],
)
def test_webhook_settings_say_what_to_fix(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load({"BOT_TOKEN": TOKEN, **env})
    assert str(caught.value).startswith(message)
    assert "has space" not in str(caught.value)  # the secret is never echoed


def test_webhook_mode_settings() -> None:
    assert load({"BOT_TOKEN": TOKEN}).webhook_path is None  # polling by default
    settings = load(
        {"BOT_TOKEN": TOKEN, "WEBHOOK_URL": "https://bot.example.org:8443/telegram/webhook", "WEBHOOK_SECRET": "a-Z_9"}
    )
    assert settings.webhook_path == "/telegram/webhook" and "a-Z_9" not in repr(settings)
    # A local Bot API server (telegram-bot-api --local) posts to plain http on any port.
    local = {"TELEGRAM_API_URL": "http://127.0.0.1:8081", "WEBHOOK_URL": "http://127.0.0.1:8080/hook", "WEBHOOK_SECRET": "s"}
    assert load({"BOT_TOKEN": TOKEN, **local}).webhook_path == "/hook"
