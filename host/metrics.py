"""Prometheus metrics of the module runtime, served by the host's web server at ``/metrics``.

Counters and gauges are read from ``await runtime.status_with_usage()`` at scrape time (a
custom collector: nothing to keep in sync, and the values are the ones the admin panel shows;
memory is read in a worker thread, not on the event loop). Latencies cannot be read back
afterwards, so they are recorded as they happen: the host passes ``observe_fanout`` to its
``ModuleRuntime``, which tells it about every fan-out and every module call in it.

Each host has its own ``CollectorRegistry``: the process-global default registry is left alone,
so two hosts (or tests) never share or collide on series.

    solobot_module_hook_calls_total{module}       completed hook calls (successes and errors)
    solobot_module_hook_errors_total{module}      hook calls that raised or replied garbage
    solobot_module_hook_timeouts_total{module}    hook calls with no reply before the deadline
    solobot_module_restarts_total{module}         restarts (after crashes and by the operator)
    solobot_module_state{module,state}            1 for the module's current state, 0 for the others
    solobot_module_rss_bytes{module}              resident memory of the module's process
    solobot_module_uss_bytes{module}              memory that only the module's process holds
    solobot_module_uptime_seconds{module}         age of the serving process
    solobot_module_info{module,version}           always 1; the VERSION file's first line
    solobot_module_hook_latency_seconds{module}   histogram: one module's reply time to a hook call
    solobot_hook_fanout_seconds{hook}             histogram: one run_hooks fan-out across modules

Webhook mode adds its own (``host/telegram_webhook/metrics.py``): updates in flight, accepting, refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.exposition import choose_encoder

from runtime import ModuleRuntime, ModuleState

METRICS_PATH = "/metrics"
# Module replies over a socketpair take well under a millisecond; the default hook timeout is 4 s.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Modules may call run_hooks with any hook name: bound the label set so they cannot exhaust memory.
MAX_HOOK_LABELS = 100
OTHER_HOOK = "_other"
_HOOK_NAME = re.compile(r"[A-Za-z0-9_]{1,64}")


class RuntimeCollector:
    """Per-module counters and gauges from the statuses handed to it for this scrape."""

    def __init__(self) -> None:
        self.statuses: list[dict[str, Any]] = []

    def describe(self) -> Iterable[Metric]:
        return self._families([])

    def collect(self) -> Iterable[Metric]:
        return self._families(self.statuses)

    def _families(self, statuses: list[dict[str, Any]]) -> Iterator[Metric]:
        calls = CounterMetricFamily("solobot_module_hook_calls", "Completed hook calls (success or error).", labels=["module"])
        errors = CounterMetricFamily("solobot_module_hook_errors", "Hook calls that failed in the module.", labels=["module"])
        timeouts = CounterMetricFamily("solobot_module_hook_timeouts", "Hook calls without a reply in time.", labels=["module"])
        restarts = CounterMetricFamily("solobot_module_restarts", "Restarts of the module's process.", labels=["module"])
        state = GaugeMetricFamily("solobot_module_state", "1 for the module's current state.", labels=["module", "state"])
        rss = GaugeMetricFamily("solobot_module_rss_bytes", "Resident memory of the module's process.", labels=["module"])
        uss = GaugeMetricFamily("solobot_module_uss_bytes", "Memory only the module's process holds.", labels=["module"])
        uptime = GaugeMetricFamily("solobot_module_uptime_seconds", "Age of the module's serving process.", labels=["module"])
        info = InfoMetricFamily("solobot_module", "The module's version.", labels=["module"])
        for status in statuses:
            module = [status["name"]]
            calls.add_metric(module, status.get("hook_calls") or 0)
            errors.add_metric(module, status.get("hook_errors") or 0)
            timeouts.add_metric(module, status.get("hook_timeouts") or 0)
            restarts.add_metric(module, status.get("restarts") or 0)
            for value in ModuleState:
                state.add_metric([status["name"], value.value], 1.0 if status["state"] == value.value else 0.0)
            # Absent rather than 0 while the module has no process: "no data" is not "no memory".
            for family, key in ((rss, "rss"), (uss, "uss"), (uptime, "uptime")):
                if status.get(key) is not None:
                    family.add_metric(module, status[key])
            info.add_metric(module, {"version": status.get("version") or ""})
        yield from (calls, errors, timeouts, restarts, state, rss, uss, uptime, info)


class HostMetrics:
    """One host's registry: the runtime collector plus the two latency histograms."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._modules = RuntimeCollector()
        self.registry.register(self._modules)
        self.hook_latency = Histogram(
            "solobot_module_hook_latency_seconds",
            "One module's reply time to a hook call (completed calls).",
            ["module"],
            registry=self.registry,
            buckets=LATENCY_BUCKETS,
        )
        self.fanout_latency = Histogram(
            "solobot_hook_fanout_seconds",
            "One run_hooks fan-out across module processes, until the last reply or the deadline.",
            ["hook"],
            registry=self.registry,
            buckets=LATENCY_BUCKETS,
        )
        self._hook_children: dict[str, Histogram] = {}
        self._module_children: dict[str, Histogram] = {}

    def observe_fanout(self, hook: str, seconds: float, modules: list[tuple[str, float]]) -> None:
        """The runtime's fan-out observer (``ModuleRuntime(fanout_observer=...)``): on the hot path of every hook call."""
        self._fanout_child(hook).observe(seconds)
        for module, module_seconds in modules:
            child = self._module_children.get(module)
            if child is None:  # .labels() takes a lock and builds a key: once per module, not per call
                child = self._module_children[module] = self.hook_latency.labels(module=module)
            child.observe(module_seconds)

    def _fanout_child(self, hook: str) -> Histogram:
        child = self._hook_children.get(hook)
        if child is None:
            if len(self._hook_children) >= MAX_HOOK_LABELS or not _HOOK_NAME.fullmatch(hook):
                return self.fanout_latency.labels(hook=OTHER_HOOK)
            child = self._hook_children[hook] = self.fanout_latency.labels(hook=hook)
        return child

    def register(self, collector: Any) -> None:
        """Another part's collector (e.g. webhook mode's) on this host's registry."""
        self.registry.register(collector)

    def render(self, statuses: list[dict[str, Any]] | None = None, accept: str = "") -> tuple[bytes, str]:
        """The exposition of ``statuses`` (``runtime.status_with_usage()``) and the latencies, in
        the format the scraper asked for (Prometheus text or OpenMetrics)."""
        self._modules.statuses = statuses or []
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type


METRICS_KEY = web.AppKey("host_metrics", HostMetrics)


def add_metrics_route(app: web.Application, runtime: ModuleRuntime, metrics: HostMetrics) -> None:
    """``GET /metrics`` on ``app``: ``metrics`` (the runtime's fan-out observer) and the runtime's statuses."""

    async def scrape(request: web.Request) -> web.Response:
        body, content_type = metrics.render(await runtime.status_with_usage(), request.headers.get("Accept", ""))
        return web.Response(body=body, headers={"Content-Type": content_type})

    app.router.add_get(METRICS_PATH, scrape)
    app[METRICS_KEY] = metrics
