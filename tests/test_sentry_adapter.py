"""The Sentry adapter on its own: integration-platform webhook bodies (as in Sentry's docs)
with their Sentry-Hook-Resource, to events; and the signature check."""

import asyncio
import copy
import hashlib
import hmac
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tocsin.settings import Settings
from web.integrations.event import InboundEvent, InvalidPayload
from web.integrations.sentry import Config, envelope, parse, verify

INSTALLATION = {"uuid": "a8e5d37a-696c-4c54-adb5-b3f28d64c7de"}
SENTRY_ACTOR = {"id": "sentry", "name": "Sentry", "type": "application"}


def issue_body(action: str = "created", **issue: Any) -> dict[str, Any]:
    data = {
        "id": "1170820242",
        "shortId": "FRONT-END-9",
        "title": "ReferenceError: blooopy is not defined",
        "culprit": "?(runner)",
        "level": "error",
        "status": "unresolved",
        "substatus": "new",
        "firstSeen": "2019-08-19T20:58:37.391000Z",
        "lastSeen": "2019-08-19T20:58:37.391000Z",
        "metadata": {"type": "ReferenceError", "value": "blooopy is not defined"},
        "project": {"id": "1", "name": "front-end", "slug": "front-end", "platform": ""},
        "permalink": None,
        "web_url": "https://sentry.io/organizations/acme/issues/1170820242/",
        "url": "https://sentry.io/api/0/organizations/acme/issues/1170820242/",
        "count": "1",
        "userCount": 1,
    }
    data.update(issue)
    return {
        "action": action,
        "installation": INSTALLATION,
        "data": {"issue": data},
        "actor": SENTRY_ACTOR,
    }


def event_alert_body(**event: Any) -> dict[str, Any]:
    data = {
        "event_id": "e4874d664c3540c1a32eab185f12c5ab",
        "issue_id": "1117540176",
        "title": "ReferenceError: heck is not defined",
        "culprit": "?(<anonymous>)",
        "level": "error",
        "project": 1,
        "datetime": "2019-08-19T21:06:17.677000Z",
        "web_url": "https://sentry.io/organizations/acme/issues/1117540176/events/e4874d66/",
        "issue_url": "https://sentry.io/api/0/issues/1117540176/",
        "tags": [["browser", "Chrome 75.0.3770"], ["level", "error"]],
    }
    data.update(event)
    return {
        "action": "triggered",
        "installation": INSTALLATION,
        "data": {
            "event": data,
            "triggered_rule": "Very Important Alert Rule!",
            "issue_alert": {"title": "Very Important Alert Rule!", "settings": []},
        },
        "actor": SENTRY_ACTOR,
    }


def metric_alert_body(action: str = "critical", alert_id: str = "4") -> dict[str, Any]:
    return {
        "action": action,
        "installation": INSTALLATION,
        "data": {
            "description_text": "1000 events in the last 10 minutes\nFilter: level:error",
            "description_title": f"{action.capitalize()}: Too many errors",
            "metric_alert": {
                "id": alert_id,
                "identifier": "1",
                "title": "Sacred Marmot",
                "status": 2,
                "date_detected": "2020-09-13T12:26:40.000000Z",
                "alert_rule": {
                    "id": "7",
                    "name": "Too many errors",
                    "aggregate": "count()",
                    "dataset": "events",
                    "query": "level:error",
                    "projects": ["bar"],
                    "triggers": [],
                },
            },
            "web_url": "https://sentry.io/organizations/baz/alerts/1/",
        },
        "actor": SENTRY_ACTOR,
    }


def events(resource: str | None, body: Any) -> list[InboundEvent]:
    return parse({"resource": resource, "body": body}, Config())


def one(resource: str, body: Any) -> InboundEvent:
    result = events(resource, body)
    assert len(result) == 1
    return result[0]


def test_new_issue_triggers() -> None:
    event = one("issue", issue_body())
    assert event.action == "trigger"
    assert event.dedup_key == "sentry:issue:1170820242"
    assert event.summary == "ReferenceError: blooopy is not defined"
    assert event.severity == "error"
    assert event.source == "front-end"
    assert event.client == "Sentry"
    assert [link.href for link in event.links] == [
        "https://sentry.io/organizations/acme/issues/1170820242/"
    ]
    assert event.payload["component"] == "?(runner)"
    assert event.payload["class"] == "ReferenceError"
    assert event.custom_details is not None and event.custom_details["shortId"] == "FRONT-END-9"
    assert event.idempotency_key is not None


@pytest.mark.parametrize(
    ("level", "severity"),
    [
        ("fatal", "critical"),
        ("error", "error"),
        ("warning", "warning"),
        ("info", "info"),
        ("debug", "info"),
        ("sample", "warning"),
        (None, "warning"),
    ],
)
def test_issue_level_is_the_severity(level: Any, severity: str) -> None:
    assert one("issue", issue_body(level=level)).severity == severity


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("unresolved", "trigger"),
        ("resolved", "resolve"),
        ("archived", "acknowledge"),
        ("ignored", "acknowledge"),
    ],
)
def test_issue_state_changes(action: str, expected: str) -> None:
    event = one("issue", issue_body(action))
    assert event.action == expected
    assert event.dedup_key == "sentry:issue:1170820242"
    if action == "unresolved":
        assert event.idempotency_key is None  # a regression can happen more than once


def test_assignment_is_no_event() -> None:
    assert events("issue", issue_body("assigned")) == []


def test_permalink_when_no_web_url() -> None:
    event = one("issue", issue_body(web_url=None, permalink="https://acme.sentry.io/issues/9/"))
    assert event.links[0].href == "https://acme.sentry.io/issues/9/"


def test_issue_alert_triggers_on_the_issue_key() -> None:
    event = one("event_alert", event_alert_body())
    assert event.action == "trigger"
    assert event.dedup_key == "sentry:issue:1117540176"
    assert event.summary == "ReferenceError: heck is not defined"
    assert event.severity == "error"
    assert event.links[0].href.startswith("https://sentry.io/organizations/acme/issues/111754")
    assert event.payload["class"] == "Very Important Alert Rule!"
    same = one("event_alert", event_alert_body())
    assert same.idempotency_key == event.idempotency_key
    other = one("event_alert", event_alert_body(event_id="f" * 32))
    assert other.idempotency_key != event.idempotency_key


def test_issue_alert_and_issue_resolve_share_the_incident() -> None:
    opened = one("event_alert", event_alert_body(issue_id="555"))
    closed = one("issue", issue_body("resolved", id="555"))
    assert opened.dedup_key == closed.dedup_key


@pytest.mark.parametrize(("action", "severity"), [("critical", "critical"), ("warning", "warning")])
def test_metric_alert_triggers(action: str, severity: str) -> None:
    event = one("metric_alert", metric_alert_body(action))
    assert event.action == "trigger"
    assert event.severity == severity
    assert event.dedup_key == "sentry:metric_alert:4"
    assert event.summary == f"{action.capitalize()}: Too many errors"
    assert event.source == "bar"
    assert event.links[0].href == "https://sentry.io/organizations/baz/alerts/1/"
    assert event.custom_details is not None
    assert event.custom_details["description"].startswith("1000 events")


def test_metric_alert_resolves() -> None:
    event = one("metric_alert", metric_alert_body("resolved"))
    assert event.action == "resolve" and event.dedup_key == "sentry:metric_alert:4"


@pytest.mark.parametrize("resource", ["installation", "comment", "error", "seer", "preprod"])
def test_other_resources_are_accepted_with_no_events(resource: str) -> None:
    body = {"action": "created", "data": {"installation": INSTALLATION}, "actor": SENTRY_ACTOR}
    assert events(resource, body) == []


def test_long_ids_are_digested() -> None:
    event = one("issue", issue_body(id="9" * 300))
    assert len(event.dedup_key) <= 255 and event.dedup_key.startswith("sentry:issue:")


@pytest.mark.parametrize(
    ("resource", "body", "needle"),
    [
        (None, issue_body(), "Sentry-Hook-Resource"),
        ("issue", [], "JSON object"),
        ("issue", {"action": "created"}, "data"),
        ("issue", {"action": "created", "data": {}}, "data.issue"),
        ("issue", issue_body(id=None), "issue.id"),
        ("event_alert", {"action": "triggered", "data": {"event": {}}}, "event.issue_id"),
        ("metric_alert", {"action": "critical", "data": {"metric_alert": {}}}, "metric_alert.id"),
    ],
)
def test_bad_payloads_are_refused(resource: str | None, body: Any, needle: str) -> None:
    with pytest.raises(InvalidPayload) as err:
        events(resource, body)
    assert needle in str(err.value)


def test_envelope_joins_the_resource_header() -> None:
    body = issue_body()
    joined = asyncio.run(envelope({"sentry-hook-resource": "issue"}, body, Settings()))
    assert joined == {"resource": "issue", "body": body}


def test_signature_is_hex_hmac_sha256_of_the_raw_body() -> None:
    raw = json.dumps(issue_body()).encode()
    secret = "8f3c0de9b1d54b0aa0e2d0b0c1d2e3f4"
    good = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    assert verify({"sentry-hook-signature": good}, raw, secret)
    assert not verify({"sentry-hook-signature": good}, raw + b" ", secret)
    assert not verify({"sentry-hook-signature": good}, raw, secret + "x")
    assert not verify({}, raw, secret)
    assert not verify({"sentry-hook-signature": ""}, raw, secret)
    assert not verify({"sentry-hook-signature": "zz" * 32}, raw, secret)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
RESOURCES = st.sampled_from(["issue", "event_alert", "metric_alert", "installation"]) | st.none()
VALID = {
    "issue": issue_body(),
    "event_alert": event_alert_body(),
    "metric_alert": metric_alert_body(),
}


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(RESOURCES, json_values)
def test_random_json_is_parsed_or_refused(resource: str | None, body: Any) -> None:
    _parsed_or_refused({"resource": resource, "body": body})
    _parsed_or_refused(body)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(sorted(VALID)),
    st.sampled_from(["action", "data", "issue", "event", "metric_alert", "id", "issue_id"]),
    json_values | st.sampled_from(["created", "resolved", "critical", "triggered"]),
)
def test_mutated_bodies_are_parsed_or_refused(resource: str, field: str, value: Any) -> None:
    body = copy.deepcopy(VALID[resource])
    _set_everywhere(body, field, value)
    _parsed_or_refused({"resource": resource, "body": body})


def _set_everywhere(node: Any, field: str, value: Any) -> None:
    if isinstance(node, dict):
        for key in list(node):
            if key == field:
                node[key] = value
            else:
                _set_everywhere(node[key], field, value)


def _parsed_or_refused(body: Any) -> None:
    try:
        result = parse(body, Config())
    except InvalidPayload:
        return
    for event in result:
        assert len(event.dedup_key) <= 255
        json.dumps(event.model_dump(mode="json"))
