"""The Grafana adapter as a pure function, and Grafana's HMAC signature."""

import hashlib
import hmac
import time
from typing import Any

import pytest
from hypothesis import given, settings

from tests.adapter_fuzz import events_or_invalid, json_values, mutations
from tests.alert_payloads import grafana_alert, grafana_notification
from web.integrations import grafana
from web.integrations.event import InvalidPayload
from workflows.messages import Image, Link

SECRET = "grafana-hmac-secret"


def parse(body: Any, config: grafana.Config | None = None) -> list:
    return grafana.parse(body, config or grafana.Config())


def test_grafana_alert_becomes_an_event_with_links_image_and_values() -> None:
    alert = grafana_alert(fp="c6eadffa33fcdf37")
    [event] = parse(grafana_notification(alert))
    assert (event.action, event.dedup_key) == ("trigger", "c6eadffa33fcdf37")
    assert (event.summary, event.severity, event.source) == (
        "Memory above 90% on db-1",
        "critical",
        "db-1",
    )
    assert event.client == "Grafana" and event.client_url == "https://grafana.example.com/"
    assert event.links == [
        Link(href=alert["generatorURL"], text="Source"),
        Link(href=alert["dashboardURL"], text="Dashboard"),
        Link(href=alert["panelURL"], text="Panel"),
        Link(href=alert["silenceURL"], text="Silence"),
        Link(href="https://grafana.example.com/", text="Grafana"),
    ]
    assert event.images == [
        Image(src=alert["imageURL"], href=alert["panelURL"], alt="HighMemoryUsage")
    ]
    details = event.custom_details
    assert details is not None
    assert details["valueString"] == alert["valueString"]
    assert details["values"] == {"A": 93.4, "C": 1}
    assert details["labels"] == alert["labels"] and details["annotations"] == alert["annotations"]
    assert details["dashboardURL"] == alert["dashboardURL"]


def test_resolved_and_empty_urls() -> None:
    alert = {
        **grafana_alert(status="resolved"),
        "dashboardURL": "",
        "panelURL": "",
        "imageURL": "http://insecure.example.com/x.png",
        "values": None,
    }
    [event] = parse(grafana_notification(alert))
    assert event.action == "resolve"
    assert [link.text for link in event.links] == ["Source", "Silence", "Grafana"]
    assert event.images == []  # https only
    assert event.custom_details is not None and "values" not in event.custom_details


def test_group_mode() -> None:
    body = grafana_notification(
        grafana_alert(severity="warning"), grafana_alert(severity="error", summary="other")
    )
    [event] = parse(body, grafana.Config.model_validate({"groupBy": "group"}))
    assert event.dedup_key == body["groupKey"]
    assert event.severity == "error"
    assert event.summary == "HighMemoryUsage (2 alerts)"
    assert len(event.images) == 1  # the same panel image once


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("valueString", 5, "alerts[0].valueString: must be a string"),
        ("values", [1], "alerts[0].values: must be an object"),
        ("dashboardURL", 1, "alerts[0].dashboardURL: must be a string"),
        ("imageURL", {}, "alerts[0].imageURL: must be a string"),
        ("labels", "x", "alerts[0].labels: must be an object"),
    ],
)
def test_wrong_types_are_refused_naming_the_field(field: str, value: Any, error: str) -> None:
    with pytest.raises(InvalidPayload) as err:
        parse(grafana_notification({**grafana_alert(), field: value}))
    assert err.value.errors == [error]


def sign(body: bytes, timestamp: str | None = None, secret: str = SECRET) -> str:
    signed = body if timestamp is None else timestamp.encode() + b":" + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


BODY = b'{"receiver":"tocsin","status":"firing","alerts":[]}'


def test_signature_of_the_body() -> None:
    good = {"x-grafana-alerting-signature": sign(BODY)}
    assert grafana.verify(good, BODY, SECRET)
    assert grafana.verify({"x-grafana-alerting-signature": sign(BODY).upper()}, BODY, SECRET)
    assert not grafana.verify(good, BODY + b" ", SECRET)
    assert not grafana.verify(good, BODY, "another-secret")
    assert not grafana.verify({}, BODY, SECRET)
    assert not grafana.verify({"x-grafana-alerting-signature": ""}, BODY, SECRET)
    assert not grafana.verify({"x-grafana-alerting-signature": "é" * 64}, BODY, SECRET)


@pytest.mark.parametrize(
    "header", ["x-grafana-alerting-timestamp", "x-grafana-alerting-signature-timestamp"]
)
def test_signature_with_timestamp(header: str) -> None:
    now = time.time()
    ts = str(int(now))
    headers = {"x-grafana-alerting-signature": sign(BODY, ts), header: ts}
    assert grafana.verify(headers, BODY, SECRET, now=now)
    assert grafana.verify(headers, BODY, SECRET)  # the real clock
    # The body alone is not what was signed once a timestamp is sent.
    assert not grafana.verify(
        {"x-grafana-alerting-signature": sign(BODY), header: ts}, BODY, SECRET, now=now
    )
    # Another timestamp with the old signature, or a replay ten minutes later.
    assert not grafana.verify({**headers, header: str(int(now) + 1)}, BODY, SECRET, now=now)
    assert not grafana.verify(headers, BODY, SECRET, now=now + 600)
    fullwidth = "\uff11\uff12\uff13"  # digits to str.isdigit, not to int()
    for bad in ("", "abc", fullwidth, "9" * 20):
        assert not grafana.verify(
            {"x-grafana-alerting-signature": sign(BODY, bad), header: bad}, BODY, SECRET, now=now
        )


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_random_json_gives_events_or_invalid_payload(body: Any) -> None:
    events_or_invalid(parse, body)


@settings(max_examples=300, deadline=None)
@given(mutations(grafana_notification(grafana_alert(), grafana_alert(status="resolved"))))
def test_mutated_payloads_give_events_or_invalid_payload(body: Any) -> None:
    events_or_invalid(parse, body)
    events_or_invalid(lambda b: parse(b, grafana.Config(group_by="group")), body)
