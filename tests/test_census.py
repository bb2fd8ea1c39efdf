"""The census of upstream names (modcheck/census): in step with the code, the docs and the checker.

It fails when a provided function stops accepting upstream's parameters, when an upstream name
is neither provided nor explained, when ``census.json`` or the docs section is stale, and when a
decision in ``decisions.toml`` explains nothing any more. The last test runs a module that
imports restored names in its own process, without fallbacks.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from modcheck.census import load_census, load_decisions
from modcheck.census.build import build_census
from modcheck.census.model import MISSING, PROVIDED
from modcheck.census.report import DOC_FILE, updated_doc
from modcheck.census.signatures import signature_problem
from tests.conftest import ModuleFolder
from tests.shared_zygote import ThreadedZygote
from tests.test_module_bridge import open_bridge

COMPAT_MODULES = Path(__file__).parent / "compat_modules"
#: Names issue 11 found missing that public modules import; each must stay provided.
RESTORED = [
    ("handlers.texts", "get_about_vpn"),
    ("handlers.texts", "PAYMENT_OPTIONS"),
    ("handlers.utils", "format_days"),
    ("config", "DONATIONS_ENABLE"),
    ("config", "SHOW_START_MENU_ONCE"),
    ("config", "WEBHOOK_HOST"),
    ("handlers.admin.users", "router"),
    ("handlers.admin.users.keyboard", "AdminUserEditorCallback"),
    ("handlers.coupons", "CouponActivationState"),
    ("handlers.coupons", "activate_coupon"),
    ("handlers.keys.operations", "renew_key_in_cluster"),
    ("handlers.payments.currency_rates", "format_for_user"),
    ("handlers.utils", "get_least_loaded_cluster"),
]
REGENERATE = "run `python -m modcheck.census --write` and commit modcheck/census/census.json and the docs"


@pytest.fixture(scope="module")
def built() -> tuple:
    return build_census()


def test_every_upstream_name_is_provided_with_its_signature_or_explained(built: tuple) -> None:
    census, problems = built
    assert problems == []
    assert {e.status for e in census.entries} == {PROVIDED, MISSING}
    assert all(e.reason for e in census.entries if e.status == MISSING)


def test_the_committed_census_and_docs_match_the_code(built: tuple) -> None:
    census, _ = built
    assert load_census() == census, REGENERATE
    doc = DOC_FILE.read_text(encoding="utf-8")
    assert updated_doc(doc, census) == doc, REGENERATE


def test_every_decision_still_explains_a_missing_name(built: tuple) -> None:
    census, _ = built
    missing = [e for e in census.entries if e.status == MISSING]
    stale = [d for d in load_decisions() if not any(d.matches(e.module, e.name) for e in missing)]
    assert stale == [], "decisions.toml explains names that are provided now: delete these entries"


@pytest.mark.parametrize(("module", "name"), RESTORED)
def test_names_public_modules_import_are_provided(built: tuple, module: str, name: str) -> None:
    entry = built[0].lookup(module, name)
    assert entry is not None and entry.status == PROVIDED


def test_the_signature_check_reports_what_a_module_call_would_trip_on() -> None:
    upstream = [["session", "POSITIONAL_OR_KEYWORD", False], ["pid", "POSITIONAL_OR_KEYWORD", False]]

    async def renamed(session, payment_id): ...

    async def same(session, pid, extra=None): ...

    async def stricter(session, pid, extra): ...

    assert signature_problem(renamed, upstream) == "parameter 2 is 'pid' upstream, 'payment_id' here"
    assert signature_problem(same, upstream) is None
    assert signature_problem(stricter, upstream) == "'extra' is required here but upstream has no such parameter"
    optional = [["session", "POSITIONAL_OR_KEYWORD", False], ["limit", "KEYWORD_ONLY", True]]

    async def required_keyword(session, *, limit): ...

    assert signature_problem(required_keyword, optional) == "'limit' is optional upstream, required here"


@pytest.mark.anyio
@pytest.mark.timeout(60)
async def test_a_module_importing_restored_names_runs_unchanged(
    modules: ModuleFolder, db: str, tmp_path: Path, shared_zygote: ThreadedZygote
) -> None:
    shutil.copytree(COMPAT_MODULES / "core_names", modules.root / "core_names")
    async with open_bridge(modules, db, tmp_path, shared_zygote) as bridge:
        assert bridge.runtime.module_status("core_names")["state"] == "running"
        user = bridge.api.user(1)
        await user.send("/names")
        reply = (await user.wait_for_reply()).text
    assert reply.splitlines() == [
        "days=21 день|3 дня",
        "about=True",
        "options=amount|100",
        "flags=False|False",
        "card=users_editor|True",
        "cluster=local|[]",
        "coupons=CouponActivationState:waiting_for_coupon_code|True",
        "renew=False",
        "price=1 500 ₽",
        "flow=True|''",
    ]
