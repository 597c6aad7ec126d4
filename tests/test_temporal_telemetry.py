"""The SDK's metrics copied into prometheus-client (tocsin/temporal_telemetry.py)."""

import uuid

from prometheus_client import REGISTRY

from tocsin.temporal_telemetry import TemporalTelemetry


def test_runs_with_the_same_attribute_values_share_one_series() -> None:
    """The SDK hands each workflow run's context new attribute objects with the same values:
    the worker's table of labelled series must not grow with every run (it did, by a few
    entries per new incident, for as long as the worker ran)."""
    telemetry = TemporalTelemetry()
    name = f"tocsin_test_{uuid.uuid4().hex[:8]}"
    counter = telemetry.runtime.metric_meter.create_counter(name)
    for _ in range(50):  # a fresh attribute set each time, as each run's context makes
        counter.with_additional_attributes({"task_queue": "q", "workflow_type": "Incident"}).add(2)
    counter.with_additional_attributes({"task_queue": "other", "workflow_type": "Incident"}).add(1)

    telemetry.drain()

    assert _totals(f"temporal_{name}_total") == {"q": 100, "other": 1}
    assert len(telemetry._children) == 2


def _totals(sample_name: str) -> dict[str, float]:
    """The counter's value per task queue (the SDK adds labels of its own)."""
    return {
        sample.labels["task_queue"]: sample.value
        for family in REGISTRY.collect()
        for sample in family.samples
        if sample.name == sample_name
    }
