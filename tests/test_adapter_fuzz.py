"""Every payload parser of an integration, fuzzed from one table: random JSON and realistic
payloads with one value replaced or removed give the parser's result or its documented
refusal (InvalidPayload; SNS's 400 ApiError), never another exception.

``PARSERS`` has a row per parser; every adapter of ``web.integrations.registry.ADAPTERS``
needs at least one (named ``<type>`` or ``<type>:<variant>``), so a new adapter without
fuzz coverage fails ``test_every_adapter_has_a_row``.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.adapter_fuzz import json_values, mutations
from tests.alert_payloads import (
    alertmanager_alert,
    alertmanager_notification,
    grafana_alert,
    grafana_notification,
)
from tests.fakes.sns import alarm
from tests.slack_support import interaction_body
from tests.test_cloudwatch_adapter import sns_notification
from tests.test_datadog_adapter import rendered
from tests.test_generic_adapter import CHECK, CHECK_CONFIG
from tests.test_sentry_adapter import VALID as SENTRY_BODIES
from web.errors import ApiError
from web.integrations import alertmanager, cloudwatch, datadog, generic, grafana, sentry
from web.integrations.event import InboundEvent, InvalidPayload
from web.integrations.registry import ADAPTERS
from web.pagerduty_parse import (
    AlertRequest,
    ChangeRequest,
    decode_body,
    parse_alert,
    parse_change,
    parse_v1,
)
from web.slack_parse import (
    CommandError,
    Interaction,
    SlashCommand,
    parse_command,
    parse_interaction,
)
from web.sns import checked_message, string_to_sign


def events(result: Any) -> bool:
    return isinstance(result, list) and all(isinstance(e, InboundEvent) for e in result)


def invalid_payload(err: Exception) -> bool:
    return isinstance(err, InvalidPayload) and bool(err.errors) and all(err.errors)


def sns_refusal(err: Exception) -> bool:
    return isinstance(err, ApiError) and err.status == 400


@dataclass(frozen=True)
class Parser:
    parse: Callable[[Any], Any]
    samples: tuple[Any, ...]
    parsed: Callable[[Any], bool] = events
    refused: Callable[[Exception], bool] = invalid_payload


def adapter(parse: Callable[[Any, Any], Any], config: Any) -> Callable[[Any], Any]:
    return lambda body: parse(body, config)


def sns_envelope(body: Any) -> bytes:
    """The shape check and the string SNS signs, as web/sns.py runs them before the
    signature check."""
    return string_to_sign(checked_message({}, body))


def cloudwatch_alarm(message: Any) -> list[InboundEvent]:
    """The alarm inside the SNS Message, mutated where the outer fuzz cannot reach."""
    return cloudwatch.parse(sns_notification(json.dumps(message)), cloudwatch.Config())


V2_TRIGGER = {
    "routing_key": "k" * 32,
    "event_action": "trigger",
    "dedup_key": "disk-full",
    "client": "Monitoring",
    "client_url": "https://monitoring.example.com",
    "payload": {
        "summary": "Disk full on db-1",
        "source": "db-1",
        "severity": "critical",
        "timestamp": "2024-05-01T10:00:00.000+0000",
        "component": "postgres",
        "group": "prod",
        "class": "disk",
        "custom_details": {"free": "0%", "mount": "/var"},
    },
    "links": [{"href": "https://example.com/runbook", "text": "Runbook"}],
    "images": [{"src": "https://example.com/graph.png", "href": "https://example.com", "alt": ""}],
}
V1_TRIGGER = {
    "service_key": "k" * 32,
    "event_type": "trigger",
    "incident_key": "disk-full",
    "description": "Disk full on db-1",
    "client": "Alertmanager",
    "client_url": "https://am.example.com",
    "details": {"firing": "1"},
    "contexts": [
        {"type": "link", "href": "https://example.com", "text": "Runbook"},
        {"type": "image", "src": "https://example.com/graph.png"},
    ],
}
CHANGE = {
    "routing_key": "k" * 32,
    "payload": {
        "summary": "Deployed api v1.2.3",
        "source": "ci",
        "timestamp": "2024-05-01T10:00:00Z",
        "custom_details": {"commit": "abc123"},
    },
    "links": [{"href": "https://ci.example.com/build/1", "text": "Build"}],
}


def slack_payload(action_id: str) -> Any:
    """The JSON in the ``payload`` field of a Slack button click."""
    form = interaction_body(action_id, "inc_1", user_id="U1", username="u", response_url="")
    return json.loads(parse_qs(form)["payload"][0])


PARSERS: dict[str, Parser] = {
    "alertmanager": Parser(
        adapter(alertmanager.parse, alertmanager.Config()),
        (alertmanager_notification(alertmanager_alert(), alertmanager_alert(status="resolved")),),
    ),
    "alertmanager:group": Parser(
        adapter(alertmanager.parse, alertmanager.Config(group_by="group")),
        (alertmanager_notification(alertmanager_alert(), alertmanager_alert()),),
    ),
    "grafana": Parser(
        adapter(grafana.parse, grafana.Config()),
        (grafana_notification(grafana_alert(), grafana_alert(status="resolved")),),
    ),
    "grafana:group": Parser(
        adapter(grafana.parse, grafana.Config(group_by="group")),
        (grafana_notification(grafana_alert()),),
    ),
    "generic": Parser(
        adapter(generic.parse, generic.Config.model_validate(CHECK_CONFIG)), (CHECK,)
    ),
    "generic:alerts": Parser(
        adapter(
            generic.parse,
            generic.Config.model_validate(CHECK_CONFIG | {"alerts": "$.checks[*]"}),
        ),
        ({"checks": [CHECK, CHECK | {"state": "UP"}]},),
    ),
    "datadog": Parser(
        adapter(datadog.parse, datadog.Config()),
        (rendered(), rendered(alert_transition="Recovered")),
    ),
    "sentry": Parser(
        adapter(sentry.parse, sentry.Config()),
        tuple({"resource": r, "body": b} for r, b in sorted(SENTRY_BODIES.items())),
    ),
    "cloudwatch": Parser(
        adapter(cloudwatch.parse, cloudwatch.Config(insufficient_data="trigger")),
        (sns_notification(alarm()), sns_notification(alarm(state="OK"))),
    ),
    "cloudwatch:alarm": Parser(cloudwatch_alarm, (alarm(), alarm(state="INSUFFICIENT_DATA"))),
    "sns:envelope": Parser(
        sns_envelope,
        (sns_notification(alarm()),),
        parsed=lambda result: isinstance(result, bytes),
        refused=sns_refusal,
    ),
    "pagerduty:v2": Parser(
        parse_alert,
        (V2_TRIGGER, {"routing_key": "k" * 32, "event_action": "resolve", "dedup_key": "x"}),
        parsed=lambda result: isinstance(result, AlertRequest),
    ),
    "pagerduty:v1": Parser(
        parse_v1, (V1_TRIGGER,), parsed=lambda result: isinstance(result, AlertRequest)
    ),
    "slack:interaction": Parser(
        parse_interaction,
        (slack_payload("tocsin.acknowledge"), slack_payload("tocsin.snooze")),
        parsed=lambda result: result is None or isinstance(result, Interaction),
    ),
    "pagerduty:change": Parser(
        parse_change, (CHANGE,), parsed=lambda result: isinstance(result, ChangeRequest)
    ),
}

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def parsed_or_refused(parser: Parser, body: Any) -> None:
    try:
        result = parser.parse(body)
    except Exception as err:  # anything but the documented refusal fails the test
        if not parser.refused(err):
            raise
        return
    assert parser.parsed(result), result


def test_every_adapter_has_a_row() -> None:
    covered = {name.split(":", 1)[0] for name in PARSERS}
    assert set(ADAPTERS) <= covered, f"adapters without fuzz rows: {set(ADAPTERS) - covered}"


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_samples_parse(name: str) -> None:
    """The samples themselves are valid, so their mutations are near-valid."""
    parser = PARSERS[name]
    for sample in parser.samples:
        assert parser.parsed(parser.parse(sample))


@pytest.mark.parametrize("name", sorted(PARSERS))
@FUZZ
@given(body=json_values)
def test_random_json(name: str, body: Any) -> None:
    parsed_or_refused(PARSERS[name], body)


@pytest.mark.parametrize("name", sorted(PARSERS))
@FUZZ
@given(data=st.data())
def test_mutated_samples(name: str, data: st.DataObject) -> None:
    parser = PARSERS[name]
    sample = data.draw(st.sampled_from(parser.samples))
    body = data.draw(mutations(sample))
    # Twice mutated too: two fields wrong at once.
    parsed_or_refused(parser, body)
    parsed_or_refused(parser, data.draw(mutations(body)))


@FUZZ
@given(raw=st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_decode_body(raw: bytes) -> None:
    """The raw body of every JSON ingest route: JSON or InvalidPayload."""
    try:
        decode_body(raw)
    except InvalidPayload as err:
        assert err.errors


@FUZZ
@given(
    text=st.text(max_size=60)
    | st.tuples(
        st.sampled_from(["ack", "resolve", "snooze inc_1", "note inc_1", "who", "SNOOZE x"]),
        st.text(max_size=40),
    ).map(" ".join)
)
def test_slack_command_text(text: str) -> None:
    """The ``/tocsin`` command's text: a command or CommandError (shown to the person)."""
    try:
        assert isinstance(parse_command(text), SlashCommand)
    except CommandError as err:
        assert str(err)


def test_slack_durations_out_of_range_are_refused() -> None:
    for text in ("99999999999d", "9" * 30, "²", "٣٠"):
        with pytest.raises(CommandError):
            parse_command(f"snooze inc_1 {text}")
