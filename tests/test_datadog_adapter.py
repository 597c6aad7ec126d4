"""The Datadog adapter on its own: the recommended payload template, rendered as Datadog
renders it, to events."""

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from web.integrations.datadog import TRANSITIONS, Config, parse
from web.integrations.event import InboundEvent, InvalidPayload


def rendered(**overrides: Any) -> dict[str, Any]:
    """docs/integrations.md's template as Datadog fills it in for a multi-alert monitor."""
    body = {
        "id": "7734091285741234567",
        "alert_id": "41230987",
        "alert_transition": "Triggered",
        "alert_title": "[Triggered on {host:web-1,env:prod}] CPU above 90%",
        "alert_priority": "P2",
        "alert_scope": "host:web-1,env:prod",
        "alert_status": "system.cpu.user over host:web-1,env:prod was > 90.0 on average",
        "alert_type": "error",
        "alert_metric": "system.cpu.user",
        "alert_query": "avg(last_5m):avg:system.cpu.user{*} by {host,env} > 90",
        "alert_cycle_key": "5263472896385718000",
        "aggreg_key": "9bd4ac313a4d1e8fae2482df7b77628",
        "event_title": "[Triggered on {host:web-1,env:prod}] CPU above 90%",
        "event_msg": "%%%\nCPU is high @webhook-tocsin\n%%%",
        "link": "https://app.datadoghq.com/event/event?id=7734091285741234567",
        "date": "1718000000000",
        "hostname": "web-1",
        "org": {"id": "112233", "name": "Acme"},
    }
    body.update(overrides)
    return body


def one(body: Any) -> InboundEvent:
    events = parse(body, Config())
    assert len(events) == 1
    return events[0]


def test_triggered_monitor_becomes_a_trigger() -> None:
    event = one(rendered())
    assert event.action == "trigger"
    assert event.dedup_key == "datadog:41230987:env:prod,host:web-1"
    assert event.summary == "[Triggered on {host:web-1,env:prod}] CPU above 90%"
    assert event.severity == "error"  # P2
    assert event.source == "web-1"
    assert event.client == "Datadog"
    assert [link.href for link in event.links] == [
        "https://app.datadoghq.com/event/event?id=7734091285741234567"
    ]
    assert event.client_url == event.links[0].href
    assert event.payload["component"] == "system.cpu.user"
    assert event.payload["group"] == "env:prod,host:web-1"
    assert event.payload["timestamp"] == "2024-06-10T06:13:20+00:00"
    assert event.custom_details is not None
    assert event.custom_details["alert_query"].startswith("avg(last_5m)")
    assert event.idempotency_key is not None


def test_recovery_resolves_the_same_key() -> None:
    trigger = one(rendered())
    recovered = one(rendered(id="7734091285741239999", alert_transition="Recovered"))
    assert recovered.action == "resolve"
    assert recovered.dedup_key == trigger.dedup_key
    assert recovered.idempotency_key != trigger.idempotency_key


def test_scope_order_does_not_change_the_key() -> None:
    a = one(rendered(alert_scope="host:web-1,env:prod"))
    b = one(rendered(alert_scope=" env:prod, host:web-1 "))
    assert a.dedup_key == b.dedup_key


def test_each_group_of_a_multi_alert_monitor_is_its_own_incident() -> None:
    a = one(rendered(alert_scope="host:web-1"))
    b = one(rendered(alert_scope="host:web-2"))
    assert a.dedup_key != b.dedup_key


def test_simple_monitor_key_is_the_monitor_id() -> None:
    assert one(rendered(alert_scope="")).dedup_key == "datadog:41230987"


def test_long_scope_is_digested_under_255() -> None:
    scope = ",".join(f"tag{i}:{'x' * 20}" for i in range(30))
    event = one(rendered(alert_scope=scope))
    assert len(event.dedup_key) <= 255 and event.dedup_key.startswith("datadog:")
    assert one(rendered(alert_scope=scope)).dedup_key == event.dedup_key


@pytest.mark.parametrize(
    ("priority", "alert_type", "severity"),
    [
        ("P1", "error", "critical"),
        ("P2", "info", "error"),
        ("P3", "error", "warning"),
        ("P4", "error", "info"),
        ("P5", "error", "info"),
        ("", "error", "error"),
        ("", "warning", "warning"),
        ("", "info", "info"),
        ("", "", "error"),
    ],
)
def test_severity_from_priority_then_alert_type(
    priority: str, alert_type: str, severity: str
) -> None:
    event = one(rendered(alert_priority=priority, alert_type=alert_type))
    assert event.severity == severity


@pytest.mark.parametrize("transition", ["Warn", "Re-Warn", "No Data", "Re-No Data"])
def test_warn_and_no_data_trigger_with_warning(transition: str) -> None:
    event = one(rendered(alert_transition=transition, alert_priority="P1"))
    assert event.action == "trigger" and event.severity == "warning"


@pytest.mark.parametrize("transition", ["Re-Triggered", "Renotify"])
def test_repeats_trigger_again(transition: str) -> None:
    event = one(rendered(alert_transition=transition))
    assert event.action == "trigger" and event.severity == "error"


def test_repeated_delivery_has_the_same_idempotency_key() -> None:
    assert one(rendered()).idempotency_key == one(rendered()).idempotency_key
    assert one(rendered(id=None)).idempotency_key is None


def test_null_transition_is_no_event() -> None:
    assert parse(rendered(alert_transition="Null"), Config()) == []


def test_unquoted_numeric_ids_are_accepted() -> None:
    assert one(rendered(alert_id=41230987, alert_scope="")).dedup_key == "datadog:41230987"


def test_missing_optional_fields_still_page() -> None:
    event = one({"alert_id": "5", "alert_transition": "Triggered"})
    assert event.summary == "Datadog monitor 5"
    assert event.source == "datadog"
    assert event.severity == "error"
    assert event.links == []


def test_non_web_link_is_dropped() -> None:
    assert one(rendered(link="javascript:alert(1)")).links == []


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ([], "JSON object"),
        (rendered(alert_id=""), "alert_id"),
        (rendered(alert_id=True), "alert_id"),
        (rendered(alert_transition=None), "alert_transition"),
        (rendered(alert_transition="Exploded"), "unknown value"),
        ({"title": "$EVENT_TITLE", "body": "$EVENT_MSG"}, "alert_id"),  # Datadog's default
    ],
)
def test_bad_payloads_are_refused(body: Any, needle: str) -> None:
    with pytest.raises(InvalidPayload) as err:
        parse(body, Config())
    assert needle in str(err.value)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
FIELDS = list(rendered())
mutations = json_values | st.sampled_from(sorted(TRANSITIONS))


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_random_json_is_parsed_or_refused(body: Any) -> None:
    _parsed_or_refused(body)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(FIELDS), mutations, max_size=6))
def test_mutated_templates_are_parsed_or_refused(changes: dict[str, Any]) -> None:
    body = copy.deepcopy(rendered())
    body.update(changes)
    _parsed_or_refused(body)


def _parsed_or_refused(body: Any) -> None:
    try:
        events = parse(body, Config())
    except InvalidPayload:
        return
    for event in events:
        assert len(event.dedup_key) <= 255
        json.dumps(event.model_dump(mode="json"))
