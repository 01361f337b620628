"""Prometheus metrics of one app: request counters, turn stage latencies, helpdesk gauges.

Each app gets its own registry (no import-time globals), so several apps in
one test process do not collide.  Helpdesk figures are read from the database
at scrape time, so every server process reports the same, durable numbers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import timedelta

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from assistant.helpdesk import Helpdesk

log = logging.getLogger(__name__)


class HelpdeskCollector(Collector):
    """Gauges over the last 24 hours, computed from the database when scraped."""

    def __init__(self, helpdesk: Callable[[], Helpdesk | None]) -> None:
        self._helpdesk = helpdesk

    def collect(self) -> Iterator[GaugeMetricFamily]:
        helpdesk = self._helpdesk()
        if helpdesk is None:
            return
        entries = helpdesk.entries()
        waiting = GaugeMetricFamily("xiaoshen_queue_waiting", "Tickets waiting for an agent")
        waiting.add_metric([], sum(1 for e in entries if e.ticket.status == "new" or e.lease_lapsed))
        yield waiting
        by_status = GaugeMetricFamily("xiaoshen_tickets_open", "Open tickets by status", labels=["status"])
        for status in ("new", "claimed", "answered"):
            by_status.add_metric([status], sum(1 for e in entries if e.ticket.status == status))
        yield by_status
        now = helpdesk.clock()
        report = helpdesk.service_levels(since=now - timedelta(hours=24), until=now).overall
        figures = {
            "xiaoshen_conversations_24h": ("Conversations with a question, last 24 h", report.conversations),
            "xiaoshen_handoff_rate_24h": ("Share of conversations handed to a person", report.handoff_rate),
            "xiaoshen_self_service_rate_24h": ("Self-service resolution rate", report.self_service_rate),
            "xiaoshen_first_response_p50_seconds_24h": ("First human response, median", report.first_response_p50_s),
            "xiaoshen_first_response_p90_seconds_24h": ("First human response, 90th percentile", report.first_response_p90_s),
            "xiaoshen_first_response_within_target_24h": (
                "Share of first responses within the target",
                report.first_response_within_target,
            ),
            "xiaoshen_human_resolution_rate_24h": ("Resolved share of finished tickets", report.human_resolution_rate),
            "xiaoshen_rating_mean_24h": ("Mean 好差评 rating (1-5)", report.rating_mean),
        }
        for name, (doc, value) in figures.items():
            if value is None:
                continue  # no data is not a zero
            g = GaugeMetricFamily(name, doc)
            g.add_metric([], float(value))
            yield g


class AppMetrics:
    """The registry of one app and the instruments the routes update."""

    def __init__(self, helpdesk: Callable[[], Helpdesk | None]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "xiaoshen_http_requests",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "xiaoshen_http_request_seconds",
            "HTTP request latency by route",
            ["route"],
            registry=self.registry,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.stages = Histogram(
            "xiaoshen_turn_stage_seconds",
            "Time per dialogue stage of a turn",
            ["stage"],
            registry=self.registry,
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.registry.register(HelpdeskCollector(helpdesk))

    def observe_turn(self, timings_ms: dict[str, float]) -> None:
        """Record a turn's per-stage milliseconds."""
        for stage, ms in timings_ms.items():
            self.stages.labels(stage=stage).observe(ms / 1000.0)
