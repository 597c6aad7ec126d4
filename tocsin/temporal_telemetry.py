"""The Temporal SDK's own metrics (pollers, task slots, workflow and activity task latencies,
RPC calls) in the same Prometheus endpoint as Tocsin's.

The SDK can serve its metrics itself (``PrometheusConfig`` on a port), but every worker
process would then need its own port. Instead its Runtime records into a ``MetricBuffer``
that :func:`drain_forever` copies into prometheus-client metrics every second; in
multiprocess mode those land in the shared directory like Tocsin's own, so one scrape of the
worker covers every process (docs/observability.md).
"""

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase
from temporalio.runtime import (
    BUFFERED_METRIC_KIND_COUNTER,
    BUFFERED_METRIC_KIND_GAUGE,
    BufferedMetricUpdate,
    LogForwardingConfig,
    LoggingConfig,
    MetricBuffer,
    MetricBufferDurationFormat,
    Runtime,
    TelemetryConfig,
)

from tocsin.metrics import multiprocess_dir

log = logging.getLogger("tocsin.metrics")

DRAIN_SECONDS = 1.0
# Updates the SDK may buffer between drains; generous, as the docs of MetricBuffer ask.
BUFFER_SIZE = 100_000
# Latencies in seconds: Prometheus's convention (the SDK's own exporter uses them too).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0)


class TemporalTelemetry:
    """A Runtime whose metrics go to a buffer, and the prometheus-client twins of them. Its
    Core (Rust) log lines go through Python logging too, so they are JSON like the rest."""

    def __init__(self) -> None:
        self.buffer = MetricBuffer(BUFFER_SIZE, MetricBufferDurationFormat.SECONDS)
        logging_ = LoggingConfig(
            filter=LoggingConfig.default.filter,
            forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
        )
        self.runtime = Runtime(telemetry=TelemetryConfig(metrics=self.buffer, logging=logging_))
        self._metrics: dict[tuple[str, tuple[str, ...]], MetricWrapperBase | None] = {}
        # The labelled child of each metric and attribute values, found without sorting and
        # formatting labels for every update. The SDK reuses one object per metric (its id
        # is the key; the object is kept in the value, so the id cannot be reused), but
        # not per attribute values: each workflow run's context brings new attribute
        # objects with the same values (in any order), so a key by their ids grew with
        # every run.
        self._children: dict[tuple[int, frozenset[tuple[str, Any]]], tuple[object, Any]] = {}

    def drain(self) -> None:
        for update in self.buffer.retrieve_updates():
            self._apply(update)

    async def drain_forever(self) -> None:
        while True:
            self.drain()
            await asyncio.sleep(DRAIN_SECONDS)

    def _apply(self, update: BufferedMetricUpdate) -> None:
        key = (id(update.metric), frozenset(update.attributes.items()))
        found = self._children.get(key)
        if found is None:
            found = (update.metric, self._child(update))
            self._children[key] = found
        child = found[1]
        if child is None:
            return
        kind = update.metric.kind
        if kind == BUFFERED_METRIC_KIND_COUNTER:
            child.inc(update.value)
        elif kind == BUFFERED_METRIC_KIND_GAUGE:
            child.set(update.value)
        else:
            child.observe(update.value)

    def _child(self, update: BufferedMetricUpdate) -> Any:
        """The prometheus-client series for this metric and attribute set (None: dropped)."""
        attributes: Mapping[str, Any] = update.attributes
        names = tuple(sorted(attributes))
        metric = self._metric(update, names)
        if metric is None or not names:
            return metric
        return metric.labels(*(str(attributes[n]) for n in names))

    def _metric(
        self, update: BufferedMetricUpdate, labels: tuple[str, ...]
    ) -> MetricWrapperBase | None:
        key = (update.metric.name, labels)
        if key not in self._metrics:
            self._metrics[key] = _new_metric(update, labels)
        return self._metrics[key]


def _new_metric(update: BufferedMetricUpdate, labels: tuple[str, ...]) -> MetricWrapperBase | None:
    """In multiprocess mode metrics are never registered (the directory is the registry), so
    one name may come with several label sets; in one process only its first set is kept."""
    name = update.metric.name
    if not name.startswith("temporal_"):
        name = "temporal_" + name
    doc = update.metric.description or name
    registry = None if multiprocess_dir() else REGISTRY
    kind = update.metric.kind
    try:
        if kind == BUFFERED_METRIC_KIND_COUNTER:
            return Counter(name, doc, labels, registry=registry)
        if kind == BUFFERED_METRIC_KIND_GAUGE:
            return Gauge(name, doc, labels, registry=registry, multiprocess_mode="livesum")
        return Histogram(name, doc, labels, registry=registry, buckets=LATENCY_BUCKETS)
    except ValueError as err:  # the name is taken by another label set in this registry
        log.debug("Temporal metric %s with labels %s not exported: %s", name, labels, err)
        return None
