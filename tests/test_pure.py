"""Pure logic, tested without servers."""

from web.ratelimit import SlidingWindowLimiter
from workflows.ids import incident_id, incident_workflow_id
from workflows.messages import Urgency
from workflows.severity import higher_urgency, urgency_for


def test_severity_to_urgency_matches_seed_001() -> None:
    assert urgency_for("critical") == Urgency.HIGH
    assert urgency_for("error") == Urgency.MEDIUM
    assert urgency_for("warning") == Urgency.MEDIUM
    assert urgency_for("info") == Urgency.LOW


def test_dedup_alert_never_lowers_urgency() -> None:
    assert higher_urgency(Urgency.HIGH, Urgency.LOW) == Urgency.HIGH
    assert higher_urgency(Urgency.LOW, Urgency.MEDIUM) == Urgency.MEDIUM


def test_workflow_id_is_readable_and_safe() -> None:
    assert incident_workflow_id("svc_1", "server-cpu-high") == "incident/svc_1/server-cpu-high"
    # A slash in the dedup key cannot impersonate another service's id.
    assert incident_workflow_id("svc_1", "a/b") != incident_workflow_id("svc_1/a", "b")
    assert incident_workflow_id("svc_1", "ünï cödé ✓").startswith("incident/svc_1/")


def test_long_dedup_keys_are_hashed_and_distinct() -> None:
    a = incident_workflow_id("svc", "✓" * 200)
    b = incident_workflow_id("svc", "✓" * 199 + "x")
    assert a != b and "sha256:" in a and len(a) < 120


def test_incident_id_from_first_run() -> None:
    assert (
        incident_id("b8d348c4-e567-481b-9146-8568d10cedc7")
        == "inc_b8d348c4e567481b91468568d10cedc7"
    )


def test_rate_limiter_sliding_window() -> None:
    now = [0.0]
    limiter = SlidingWindowLimiter(3, 60, clock=lambda: now[0])
    assert [limiter.acquire("a") for _ in range(3)] == [None, None, None]
    assert limiter.acquire("a") == 60
    assert limiter.acquire("b") is None  # another key is unaffected
    now[0] = 30.0
    assert limiter.acquire("a") == 30
    now[0] = 60.0  # the first three hits leave the window
    assert limiter.acquire("a") is None
