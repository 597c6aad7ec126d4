"""Tocsin's own Prometheus metrics and how a process exposes them (docs/observability.md).

Defined in one place so the API, the worker and the docs agree on names and labels. Under
``tocsin api`` and ``tocsin worker`` the values live in the shared directory of
tocsin/metrics_dir.py and every scrape adds up all processes; embedded (tests, an ASGI server
started without the CLI) they live in this process's default registry.
"""

import glob
import logging
import os
from collections.abc import Iterable

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import start_http_server
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from tocsin.metrics_dir import MULTIPROC_ENV

log = logging.getLogger("tocsin.metrics")

EVENTS = Counter(
    "tocsin_events",
    "Events received by the ingest endpoints, by action and result.",
    ["action", "result"],
)
RATE_LIMITED = Counter(
    "tocsin_rate_limited_requests",
    "Ingest requests refused by the per-key rate limit (429, PagerDuty v1: 403).",
    ["endpoint"],
)
INGEST_SECONDS = Histogram(
    "tocsin_ingest_duration_seconds",
    "Time to answer an ingest request (POST /api/events, PagerDuty, native integrations).",
    ["endpoint", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
NOTIFICATIONS = Counter(
    "tocsin_notifications",
    "Notification delivery attempts by channel, purpose and outcome "
    "(sent, failed, skipped: final; retry: an attempt failed and Temporal retries it).",
    ["channel", "purpose", "outcome"],
)
PAGE_LATENESS = Histogram(
    "tocsin_escalation_page_lateness_seconds",
    "How long after its escalation step was due a page was sent.",
    ["channel"],
    buckets=(0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0),
)


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


class _SizedFilesCollector(MultiProcessCollector):
    """Every process's values, but for files still being created. prometheus-client creates
    a process's file and sizes it in two steps; a scrape that reads it at 0 bytes fails as a
    whole, a 500 (client_python#1199, seen in this project's tests when a worker copy first
    used a metric of a new type during a scrape). Such a file holds nothing yet."""

    def collect(self) -> Iterable[Metric]:
        files = [path for path in glob.glob(os.path.join(self._path, "*.db")) if _sized(path)]
        return self.merge(files, accumulate=True)  # type: ignore[no-any-return]


def _sized(path: str) -> bool:
    try:
        return os.path.getsize(path) > 0
    except FileNotFoundError:  # a dead process's file, removed since the listing
        return False


def collector(*extra: Collector) -> Collector:
    """Everything a scrape returns: all processes' values (or this process's) and ``extra``
    (values computed at scrape time)."""
    registry = CollectorRegistry(auto_describe=False)
    path = multiprocess_dir()
    if path is not None:
        _SizedFilesCollector(registry, path)
    else:
        registry.register(REGISTRY)
    for one in extra:
        registry.register(one)
    return registry


def serve(host: str, port: int) -> bool:
    """Serve ``/metrics`` on a thread of this process (the worker's supervisor). A port
    that is taken is logged, not fatal: paging matters more than its metrics."""
    try:
        start_http_server(port, host, registry=collector())
    except OSError as err:
        log.error("cannot serve metrics on %s:%s: %s", host, port, err)
        return False
    log.info("metrics on http://%s:%s/metrics", host, port)
    return True
