"""``GET /metrics`` on the host's web server, end to end: real bot, real module processes, real
PostgreSQL; hook calls made by a simulated user, restarts by the operator and by a crash."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from host.metrics import MAX_HOOK_LABELS, METRICS_KEY, METRICS_PATH, OTHER_HOOK, HostMetrics
from host.web import WEBHOOKS_KEY
from tests.conftest import fresh_database, wait_until
from tests.core_fixtures import press, send
from tests.shared_zygote import ThreadedZygote
from tests.solobot_harness import Solobot, copy_modules, running_solobot, traversable_dir

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

MODULES = ["hello_world", "top_referrers"]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def solobot(pg_url: str, anyio_backend: str, shared_zygote: ThreadedZygote) -> AsyncIterator[Solobot]:
    with traversable_dir() as root:  # module processes run as their own uids: pytest's tmp dirs are 0700
        async with (
            fresh_database(pg_url) as url,
            running_solobot(url, copy_modules(MODULES, root / "modules"), root, zygote=shared_zygote) as bot,
        ):
            yield bot


async def scrape(solobot: Solobot, accept: str | None = None) -> tuple[str, str]:
    headers = {"Accept": accept} if accept else {}
    async with aiohttp.ClientSession() as http, http.get(f"{solobot.host.web_url}{METRICS_PATH}", headers=headers) as response:
        assert response.status == 200
        return response.headers["Content-Type"], await response.text()


async def samples(solobot: Solobot) -> Samples:
    _, body = await scrape(solobot)
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


async def open_profile(solobot: Solobot, tg_id: int) -> None:
    user = solobot.user(tg_id)
    await send(user, "/start", "Добро пожаловать")
    await press(user, "profile", "Профиль")


async def test_metrics_follow_hook_calls_restarts_and_states(solobot: Solobot) -> None:
    runtime = solobot.host.runtime
    before = await samples(solobot)
    for module in MODULES:
        assert value(before, "solobot_module_state", module=module, state="running") == 1
        assert value(before, "solobot_module_state", module=module, state="stopped") == 0
        assert value(before, "solobot_module_restarts_total", module=module) == 0
        assert value(before, "solobot_module_rss_bytes", module=module) > 0
        assert value(before, "solobot_module_info", module=module, version="1.0.0") == 1

    for tg_id in (4001, 4002, 4003):  # each profile screen fans profile_menu out to both modules
        await open_profile(solobot, tg_id)
    await runtime.restart("hello_world")
    os.kill(runtime.module_status("top_referrers")["pid"], signal.SIGKILL)
    await wait_until(lambda: (status := runtime.module_status("top_referrers"))["state"] == "running" and status["restarts"])
    after = await samples(solobot)

    for module in MODULES:
        calls = value(after, "solobot_module_hook_calls_total", module=module)
        assert calls >= value(before, "solobot_module_hook_calls_total", module=module) + 3
        assert calls == runtime.module_status(module)["hook_calls"]
        assert value(after, "solobot_module_hook_errors_total", module=module) == 0
        assert value(after, "solobot_module_hook_timeouts_total", module=module) == 0
        assert value(after, "solobot_module_restarts_total", module=module) >= 1
        assert value(after, "solobot_module_state", module=module, state="running") == 1
        states = [v for (name, labels), v in after.items() if name == "solobot_module_state" and ("module", module) in labels]
        assert sorted(states) == [0] * 5 + [1]  # one sample per state, only the current one set
        assert value(after, "solobot_module_rss_bytes", module=module) > 0
        # Every completed call is in the histogram; buckets are cumulative.
        count = value(after, "solobot_module_hook_latency_seconds_count", module=module)
        assert 3 <= count <= calls  # calls made before the web server started are not in it
        buckets = sorted(
            (float(dict(labels)["le"]), v)
            for (name, labels), v in after.items()
            if name == "solobot_module_hook_latency_seconds_bucket" and ("module", module) in labels
        )
        assert [v for _, v in buckets] == sorted(v for _, v in buckets) and buckets[-1] == (float("inf"), count)
        assert 0 < value(after, "solobot_module_hook_latency_seconds_sum", module=module) < count * 4.0

    fanouts = value(after, "solobot_hook_fanout_seconds_count", hook="profile_menu")
    assert fanouts >= 3 and value(after, "solobot_hook_fanout_seconds_sum", hook="profile_menu") > 0
    assert value(after, "solobot_hook_fanout_seconds_bucket", hook="profile_menu", le="+Inf") == fanouts


async def test_a_stopped_module_is_reported_stopped_without_memory(solobot: Solobot) -> None:
    runtime = solobot.host.runtime
    await runtime.stop("top_referrers")
    try:
        found = await samples(solobot)
        assert value(found, "solobot_module_state", module="top_referrers", state="stopped") == 1
        assert value(found, "solobot_module_state", module="top_referrers", state="running") == 0
        assert value(found, "solobot_module_rss_bytes", module="top_referrers") is None
    finally:
        await runtime.start("top_referrers")


async def test_the_scraper_gets_the_format_it_asks_for_and_the_path_is_the_cores(solobot: Solobot) -> None:
    content_type, body = await scrape(solobot)
    assert content_type.startswith("text/plain") and "# TYPE solobot_module_hook_calls_total counter" in body
    content_type, body = await scrape(solobot, "application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text") and body.rstrip().endswith("# EOF")
    assert METRICS_PATH in solobot.host.web_app[WEBHOOKS_KEY].reserved  # no module can take it over


async def test_each_host_observes_only_its_own_runtime(solobot: Solobot, pg_url: str, shared_zygote: ThreadedZygote) -> None:
    # The observer is passed to the runtime, not installed process-wide: a second host's hook
    # calls land in its own metrics and leave the first host's alone.
    outer = solobot.host.web_app[METRICS_KEY]
    assert solobot.host.runtime.fanout_observer == outer.observe_fanout
    before = value(await samples(solobot), "solobot_hook_fanout_seconds_count", hook="profile_menu") or 0
    with traversable_dir() as root:
        modules_dir = copy_modules(["hello_world"], root / "modules")
        async with fresh_database(pg_url) as url, running_solobot(url, modules_dir, root, zygote=shared_zygote) as inner:
            await inner.host.runtime.run_hooks("profile_menu", chat_id=1, admin=False)
            inner_text = inner.host.web_app[METRICS_KEY].render()[0]
            assert b'solobot_hook_fanout_seconds_count{hook="profile_menu"} 1.0' in inner_text
    after = value(await samples(solobot), "solobot_hook_fanout_seconds_count", hook="profile_menu") or 0
    assert after == before


def test_hook_labels_are_bounded_against_modules_inventing_hook_names() -> None:
    metrics = HostMetrics()
    for i in range(MAX_HOOK_LABELS + 50):
        metrics.observe_fanout(f"hook_{i}", 0.001, [])
    metrics.observe_fanout('bad name {with} "quotes"', 0.001, [])
    hooks = {s.labels["hook"] for f in metrics.registry.collect() for s in f.samples if "hook" in s.labels}
    assert len(hooks) == MAX_HOOK_LABELS + 1 and OTHER_HOOK in hooks and "hook_0" in hooks


def test_each_host_has_its_own_registry() -> None:
    first, second = HostMetrics(), HostMetrics()
    first.observe_fanout("profile_menu", 0.5, [("a", 0.5)])
    assert b'solobot_hook_fanout_seconds_count{hook="profile_menu"} 1.0' in first.render()[0]
    assert b"profile_menu" not in second.render()[0]
