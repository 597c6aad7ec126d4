"""The CloudWatch adapter on its own: SNS Notifications whose Message is an alarm state
change (signatures are web/sns.py's business, tested in test_sns.py)."""

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fakes.sns import TOPIC_ARN, alarm
from web.integrations.cloudwatch import Config, parse
from web.integrations.event import InboundEvent, InvalidPayload

MESSAGE_ID = "5d9a7a0f-3b6e-5e8f-9c1d-0a1b2c3d4e5f"


def sns_notification(message: Any, message_id: str = MESSAGE_ID) -> dict[str, Any]:
    return {
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": TOPIC_ARN,
        "Subject": 'ALARM: "HighCPU" in EU (Ireland)',
        "Message": message if isinstance(message, str) else json.dumps(message),
        "Timestamp": "2024-06-10T06:13:20.200Z",
        "SignatureVersion": "1",
        "Signature": "c2lnbmVk",
        "SigningCertURL": "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-x.pem",
        "UnsubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe",
    }


def events(message: Any, config: Config | None = None) -> list[InboundEvent]:
    return parse(sns_notification(message), config or Config())


def one(message: Any, config: Config | None = None) -> InboundEvent:
    result = events(message, config)
    assert len(result) == 1
    return result[0]


def test_alarm_triggers() -> None:
    event = one(alarm())
    assert event.action == "trigger"
    assert event.dedup_key == "cloudwatch:123456789012:eu-west-1:HighCPU"
    assert event.summary.startswith("HighCPU: Threshold Crossed: 1 out of the last 1 datapoints")
    assert event.severity == "error"
    assert event.source == "InstanceId=i-0abc123def4567890"
    assert event.client == "Amazon CloudWatch"
    url = (
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1"
        "#alarmsV2:alarm/HighCPU"
    )
    assert [link.href for link in event.links] == [url]
    assert event.client_url == url
    assert event.payload["component"] == "CPUUtilization"
    assert event.payload["group"] == "AWS/EC2"
    assert event.payload["timestamp"] == "2024-06-10T06:13:20.123+0000"
    assert event.custom_details is not None and event.custom_details["OldStateValue"] == "OK"
    assert event.idempotency_key == "sns:5d9a7a0f-3b6e-5e8f-9c1d-0a1b2c3d4e5f"


def test_ok_resolves_the_same_key() -> None:
    opened = one(alarm())
    closed = one(alarm(state="OK"))
    assert closed.action == "resolve" and closed.dedup_key == opened.dedup_key


def test_insufficient_data_is_ignored_by_default() -> None:
    assert events(alarm(state="INSUFFICIENT_DATA")) == []


def test_insufficient_data_can_trigger_a_warning() -> None:
    config = Config.model_validate({"insufficientData": "trigger", "severity": "critical"})
    event = one(alarm(state="INSUFFICIENT_DATA"), config)
    assert event.action == "trigger" and event.severity == "warning"


def test_configured_default_severity() -> None:
    assert one(alarm(), Config.model_validate({"severity": "critical"})).severity == "critical"


@pytest.mark.parametrize(
    ("description", "severity"),
    [
        ("Web tier CPU. severity: critical", "critical"),
        ("severity=P3 — runbook: https://wiki/cpu", "warning"),
        ("SEVERITY:info", "info"),
        ("severity: unheard-of", "error"),  # unknown word: the configured default
        (None, "error"),
    ],
)
def test_severity_in_the_description(description: str | None, severity: str) -> None:
    assert one(alarm(description=description)).severity == severity


def test_same_name_in_other_regions_and_accounts_are_distinct() -> None:
    keys = {
        one(alarm()).dedup_key,
        one(alarm(region="us-east-1")).dedup_key,
        one(alarm(account="210987654321")).dedup_key,
    }
    assert len(keys) == 3


def test_region_field_when_there_is_no_arn() -> None:
    event = one(alarm(AlarmArn=None))
    assert event.dedup_key == "cloudwatch:123456789012:EU (Ireland):HighCPU"
    assert event.links == []


def test_china_console_and_long_names() -> None:
    name = "db/" + "x" * 250
    event = one(alarm(name, AlarmArn=f"arn:aws-cn:cloudwatch:cn-north-1:123456789012:alarm:{name}"))
    assert len(event.dedup_key) <= 255 and event.dedup_key.startswith("cloudwatch:")
    assert event.links[0].href.startswith("https://cn-north-1.console.amazonaws.cn/cloudwatch/")
    assert event.links[0].href.endswith("#alarmsV2:alarm/db%2F" + "x" * 250)


def test_composite_alarm_without_trigger() -> None:
    event = one(alarm("AppDown", Trigger=None))
    assert event.source == "cloudwatch" and "component" not in event.payload


def test_topic_allow_list() -> None:
    allowed = Config.model_validate({"topicArns": [TOPIC_ARN]})
    assert one(alarm(), allowed).action == "trigger"
    other = Config.model_validate({"topicArns": ["arn:aws:sns:eu-west-1:123456789012:other"]})
    with pytest.raises(InvalidPayload, match="topicArns"):
        events(alarm(), other)


@pytest.mark.parametrize(
    ("message", "needle"),
    [
        ("Hello from the SNS console", "not JSON"),
        ([1, 2], "JSON object"),
        ({"NewStateValue": "ALARM"}, "AlarmName"),
        (alarm(state="EXPLODED"), "NewStateValue"),
        ({**alarm(), "AlarmName": "a\u0000b"}, "NUL"),
    ],
)
def test_bad_messages_are_refused(message: Any, needle: str) -> None:
    with pytest.raises(InvalidPayload, match=needle):
        events(message)


def test_body_must_be_a_notification() -> None:
    with pytest.raises(InvalidPayload):
        parse({"Message": None}, Config())


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
ALARM_FIELDS = sorted(alarm())
mutations = json_values | st.sampled_from(["ALARM", "OK", "INSUFFICIENT_DATA", "arn:aws:x"])


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_random_json_is_parsed_or_refused(body: Any) -> None:
    _parsed_or_refused(body)
    _parsed_or_refused(sns_notification(body))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(ALARM_FIELDS), mutations, max_size=5))
def test_mutated_alarms_are_parsed_or_refused(changes: dict[str, Any]) -> None:
    message = copy.deepcopy(alarm())
    message.update(changes)
    _parsed_or_refused(sns_notification(message))


def _parsed_or_refused(body: Any) -> None:
    for config in (Config(), Config.model_validate({"insufficientData": "trigger"})):
        try:
            result = parse(body, config)
        except InvalidPayload:
            continue
        for event in result:
            assert len(event.dedup_key) <= 255
            json.dumps(event.model_dump(mode="json"))
