"""The Alertmanager adapter as a pure function: payload version 4 in, events out."""

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from pydantic import ValidationError

from tests.adapter_fuzz import events_or_invalid, json_values, mutations
from tests.alert_payloads import alertmanager_alert, alertmanager_notification
from web.integrations import alertmanager
from web.integrations.event import InvalidPayload, stable_key
from workflows.messages import Link

PER_ALERT = alertmanager.Config()
PER_GROUP = alertmanager.Config(group_by="group")


def parse(body: Any, config: alertmanager.Config = PER_ALERT) -> list:
    return alertmanager.parse(body, config)


def test_each_alert_becomes_an_event() -> None:
    first = alertmanager_alert(fp="f2a5e3c8a1b2c3d4")
    second = alertmanager_alert(
        fp="0b1c2d3e4f5a6b7c", instance="api-2:9100", severity="warning", summary=None
    )
    body = alertmanager_notification(first, second)
    a, b = parse(body)

    assert (a.action, a.dedup_key, a.severity) == ("trigger", "f2a5e3c8a1b2c3d4", "critical")
    assert a.summary == "High error rate on api-1"
    assert a.source == "api-1:9100"
    assert a.client == "Alertmanager"
    assert a.client_url == "http://alertmanager.example.com:9093"
    assert a.links == [
        Link(href=first["generatorURL"], text="Source"),
        Link(href="http://alertmanager.example.com:9093", text="Alertmanager"),
    ]
    assert a.custom_details == {
        "status": "firing",
        "labels": first["labels"],
        "annotations": first["annotations"],
        "startsAt": first["startsAt"],
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": first["generatorURL"],
        "fingerprint": "f2a5e3c8a1b2c3d4",
        "receiver": "tocsin",
    }
    assert a.payload["summary"] == a.summary and a.payload["severity"] == "critical"
    assert a.payload["class"] == "HighErrorRate"
    assert a.payload["timestamp"] == first["startsAt"]
    assert a.payload["custom_details"] == a.custom_details

    # No summary annotation: the description.
    assert (b.dedup_key, b.severity, b.source) == ("0b1c2d3e4f5a6b7c", "warning", "api-2:9100")
    assert b.summary == "5xx responses above 5% for 10 minutes"


def test_status_maps_to_action_per_alert() -> None:
    firing = alertmanager_alert()
    resolved = alertmanager_alert(status="resolved")
    events = parse(alertmanager_notification(firing, resolved))
    assert [e.action for e in events] == ["trigger", "resolve"]
    # An alert without its own status takes the notification's.
    del firing["status"]
    [event] = parse(alertmanager_notification(firing, status="resolved"))
    assert event.action == "resolve"
    # Neither says: refused rather than guessed.
    for missing in ({}, {"status": None}):
        body = {**alertmanager_notification({**firing, **missing}), "status": None}
        with pytest.raises(InvalidPayload) as err:
            parse(body)
        assert err.value.errors == ['alerts[0].status: must be "firing" or "resolved"']


@pytest.mark.parametrize(
    ("annotations", "labels", "summary"),
    [
        ({"summary": "S", "description": "D"}, {"alertname": "A"}, "S"),
        ({"summary": "", "description": "D"}, {"alertname": "A"}, "D"),
        ({}, {"alertname": "A"}, "A"),
        ({}, {}, "Alertmanager alert"),
    ],
)
def test_summary_falls_back(annotations: dict, labels: dict, summary: str) -> None:
    alert = {**alertmanager_alert(), "annotations": annotations, "labels": labels}
    [event] = parse(alertmanager_notification(alert))
    assert event.summary == summary


def test_long_summary_is_clipped() -> None:
    [event] = parse(alertmanager_notification(alertmanager_alert(summary="x" * 5000)))
    assert len(event.summary) == 1024 and event.summary.endswith("…")


@pytest.mark.parametrize(
    ("labels", "top", "source"),
    [
        ({"instance": "i", "job": "j"}, {}, "i"),
        ({"job": "j"}, {}, "j"),
        ({}, {}, "tocsin"),
        ({}, {"receiver": None}, "http://alertmanager.example.com:9093"),
        ({}, {"receiver": None, "externalURL": None}, "alertmanager"),
    ],
)
def test_source_falls_back(labels: dict, top: dict, source: str) -> None:
    alert = {**alertmanager_alert(), "labels": labels}
    [event] = parse({**alertmanager_notification(alert), **top})
    assert event.source == source


@pytest.mark.parametrize(
    ("label", "severity"),
    [("critical", "critical"), ("PAGE", "critical"), ("error", "error"), ("info", "info"),
     ("warning", "warning"), ("bogus", "warning"), (None, "warning")],
)  # fmt: skip
def test_severity_from_the_label(label: str | None, severity: str) -> None:
    alert = alertmanager_alert()
    if label is None:
        del alert["labels"]["severity"]
    else:
        alert["labels"]["severity"] = label
    [event] = parse(alertmanager_notification(alert))
    assert event.severity == severity


def test_without_fingerprint_the_labels_are_the_key() -> None:
    alert = alertmanager_alert()
    del alert["fingerprint"]
    reordered = {**alert, "labels": dict(reversed(list(alert["labels"].items())))}
    [a] = parse(alertmanager_notification(alert))
    [b] = parse(alertmanager_notification(reordered))
    assert a.dedup_key == b.dedup_key == stable_key(sorted(alert["labels"].items()))
    [long] = parse(alertmanager_notification(alertmanager_alert(fp="f" * 300)))
    assert long.dedup_key == stable_key("f" * 300)


def test_idempotency_key_is_the_same_for_the_same_notification() -> None:
    alert = alertmanager_alert(fp="aaaa")
    [a] = parse(alertmanager_notification(alert))
    [b] = parse(copy.deepcopy(alertmanager_notification(alert)))
    assert a.idempotency_key == b.idempotency_key == stable_key("aaaa", "firing", alert["startsAt"])
    [resolved] = parse(alertmanager_notification(alertmanager_alert(fp="aaaa", status="resolved")))
    [again] = parse(alertmanager_notification(alertmanager_alert(fp="aaaa", starts_at="2025")))
    assert len({a.idempotency_key, resolved.idempotency_key, again.idempotency_key}) == 3


def test_only_web_urls_become_links() -> None:
    alert = {**alertmanager_alert(), "generatorURL": "javascript:alert(1)"}
    [event] = parse({**alertmanager_notification(alert), "externalURL": "ftp://x"})
    assert event.links == [] and event.client_url is None
    assert event.custom_details is not None
    assert event.custom_details["generatorURL"] == "javascript:alert(1)"


def test_unknown_fields_are_ignored() -> None:
    body = alertmanager_notification(
        {**alertmanager_alert(fp="abc"), "newField": {"x": 1}}, group_key="g"
    )
    body["somethingNew"] = [1, 2]
    [event] = parse(body)
    assert event.dedup_key == "abc"


def test_no_alerts_no_events() -> None:
    assert parse({**alertmanager_notification(), "alerts": []}) == []


def test_group_mode_is_one_event_per_notification() -> None:
    body = alertmanager_notification(
        alertmanager_alert(severity="warning"),
        alertmanager_alert(severity="critical", instance="api-2:9100"),
        alertmanager_alert(status="resolved", severity="info"),
        group_key='{}:{alertname="HighErrorRate"}',
    )
    [event] = parse(body, PER_GROUP)
    assert event.action == "trigger"
    assert event.dedup_key == '{}:{alertname="HighErrorRate"}'
    assert event.severity == "critical"  # the worst firing alert
    assert event.summary == "HighErrorRate (3 alerts)"
    assert event.source == "api"  # the common job label
    assert event.custom_details is not None
    assert len(event.custom_details["alerts"]) == 3
    assert event.custom_details["groupLabels"] == {"alertname": "HighErrorRate"}
    assert len([link for link in event.links if link.text == "Source"]) == 1  # deduplicated
    assert event.idempotency_key == parse(copy.deepcopy(body), PER_GROUP)[0].idempotency_key

    body["status"] = "resolved"
    [resolved] = parse(body, PER_GROUP)
    assert resolved.action == "resolve" and resolved.idempotency_key != event.idempotency_key

    body["groupKey"] = "g" * 300
    assert parse(body, PER_GROUP)[0].dedup_key == stable_key("g" * 300)
    body["commonAnnotations"] = {"summary": "Errors on the API"}
    body["alerts"] = body["alerts"][:1]
    assert parse(body, PER_GROUP)[0].summary == "Errors on the API"


def test_group_mode_needs_a_group_key_and_status() -> None:
    body = alertmanager_notification()
    del body["groupKey"]
    del body["status"]
    with pytest.raises(InvalidPayload) as err:
        parse(body, PER_GROUP)
    assert err.value.errors == [
        'status: must be "firing" or "resolved"',
        'groupKey: required when groupBy is "group"',
    ]


def _with(path: str, value: Any) -> dict:
    body = alertmanager_notification(
        alertmanager_alert(), alertmanager_alert(), alertmanager_alert()
    )
    target: Any = body
    parts: list[Any] = [int(p) if p.isdigit() else p for p in path.split(".")]
    for part in parts[:-1]:
        target = target[part]
    target[parts[-1]] = value
    return body


@pytest.mark.parametrize(
    ("path", "value", "error"),
    [
        ("alerts.2.labels", ["x"], "alerts[2].labels: must be an object"),
        ("alerts.0.labels.severity", 3, "alerts[0].labels.severity: must be a string"),
        ("alerts.1.annotations", "text", "alerts[1].annotations: must be an object"),
        ("alerts.1.status", "pending", 'alerts[1].status: must be "firing" or "resolved"'),
        ("alerts.0.startsAt", 17, "alerts[0].startsAt: must be a string"),
        ("alerts.0.fingerprint", {}, "alerts[0].fingerprint: must be a string"),
        ("alerts.0.generatorURL", [], "alerts[0].generatorURL: must be a string"),
        ("alerts.1", "alert", "alerts[1]: must be an object"),
        ("alerts", {"a": 1}, "alerts: must be a list"),
        ("alerts", None, "alerts: required"),
        ("status", "bad", 'status: must be "firing" or "resolved"'),
        ("commonLabels", 1, "commonLabels: must be an object"),
        ("externalURL", True, "externalURL: must be a string"),
        ("truncatedAlerts", "3", "truncatedAlerts: must be an integer"),
        ("groupKey", 666, "groupKey: must be a string"),
    ],
)
def test_wrong_types_are_refused_naming_the_field(path: str, value: Any, error: str) -> None:
    with pytest.raises(InvalidPayload) as err:
        parse(_with(path, value))
    assert err.value.errors == [error]


def test_every_error_is_reported_and_the_body_must_be_an_object() -> None:
    body = _with("alerts.0.labels", 1)
    body["alerts"][2]["annotations"] = 2
    with pytest.raises(InvalidPayload) as err:
        parse(body)
    assert err.value.errors == [
        "alerts[0].labels: must be an object",
        "alerts[2].annotations: must be an object",
    ]
    not_objects: list[Any] = [[], "x", None, 3]
    for not_object in not_objects:
        with pytest.raises(InvalidPayload, match="body: must be a JSON object"):
            parse(not_object)


def test_config() -> None:
    assert alertmanager.Config.model_validate({}).group_by == "alert"
    assert alertmanager.Config.model_validate({"groupBy": "group"}).group_by == "group"
    with pytest.raises(ValidationError):
        alertmanager.Config.model_validate({"groupBy": "cluster"})
    with pytest.raises(ValidationError):
        alertmanager.Config.model_validate({"group_key": "x"})
    assert not hasattr(alertmanager, "verify")  # Alertmanager does not sign


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_random_json_gives_events_or_invalid_payload(body: Any) -> None:
    events_or_invalid(parse, body)
    events_or_invalid(lambda b: parse(b, PER_GROUP), body)


@settings(max_examples=300, deadline=None)
@given(mutations(alertmanager_notification(alertmanager_alert(), alertmanager_alert())))
def test_mutated_payloads_give_events_or_invalid_payload(body: Any) -> None:
    events_or_invalid(parse, body)
    events_or_invalid(lambda b: parse(b, PER_GROUP), body)
