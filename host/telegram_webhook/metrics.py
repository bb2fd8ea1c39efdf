"""Webhook mode on ``/metrics``: what a drain waits for, and who knocks without the secret.

    solobot_webhook_updates_in_flight      updates accepted and still being handled
    solobot_webhook_accepting              1 while new updates are taken, 0 once a drain began
    solobot_webhook_refused_total          requests refused for a wrong or missing secret

Read from the ``UpdatesInFlight`` and ``RefusalLog`` at scrape time (a custom collector, as the
module metrics are): nothing is counted twice.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from .refusal_log import RefusalLog
from .updates_in_flight import UpdatesInFlight


class WebhookCollector:
    def __init__(self, in_flight: UpdatesInFlight, refusals: RefusalLog) -> None:
        self.in_flight = in_flight
        self.refusals = refusals

    def collect(self) -> Iterable[Metric]:
        count, accepting, refused = self.in_flight.count, int(self.in_flight.accepting), self.refusals.refused
        yield GaugeMetricFamily("solobot_webhook_updates_in_flight", "Updates accepted, still being handled.", value=count)
        yield GaugeMetricFamily("solobot_webhook_accepting", "1 while updates are taken, 0 once draining.", value=accepting)
        yield CounterMetricFamily("solobot_webhook_refused", "Requests with a wrong or missing secret.", value=refused)
