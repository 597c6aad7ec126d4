"""Amazon CloudWatch alarms delivered by an SNS HTTP(S) subscription, to Tocsin events.

``envelope`` is web/sns.py: it verifies the SNS signature of every message, confirms the
subscription, and hands ``parse`` only verified Notifications, whose ``Message`` is the
alarm's state change as JSON. ``parse`` is pure.

ALARM triggers, OK resolves, INSUFFICIENT_DATA does nothing unless configured to trigger.
One incident per alarm: the key is the alarm's account, region and name (from AlarmArn).
"""

import json
import re
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import quote

from pydantic import Field

from tocsin.settings import Settings
from web import sns
from web.integrations.config import AdapterConfig
from web.integrations.event import (
    MAX_DEDUP_KEY,
    InboundEvent,
    InvalidPayload,
    alert_event,
    clip,
    stable_key,
)
from web.integrations.json_fields import scalar_text
from web.integrations.severity import lookup
from web.text import storable
from workflows.messages import Link, Severity

CLIENT = "Amazon CloudWatch"


class Config(AdapterConfig):
    # CloudWatch alarms have no severity; a "severity: <word>" in the alarm description
    # overrides this.
    severity: Severity = "error"
    # INSUFFICIENT_DATA: ignore it, or open an incident of severity warning.
    insufficient_data: Literal["ignore", "trigger"] = "ignore"
    # When set, notifications from other SNS topics are refused.
    topic_arns: list[str] = Field(default_factory=list)


async def envelope(
    headers: Mapping[str, str], body: Any, settings: Settings
) -> dict[str, Any] | None:
    """The verified SNS Notification, or None for subscription messages (see web/sns.py)."""
    return await sns.receive(headers, body, settings)


_SEVERITY_IN_DESCRIPTION = re.compile(r"\bseverity\s*[:=]\s*([A-Za-z0-9]+)", re.IGNORECASE)
_ARN = re.compile(r"arn:(aws[a-z-]*):cloudwatch:([a-z0-9-]+):(\d+):alarm:.+", re.DOTALL)
_CONSOLES = {
    "aws": "https://{region}.console.aws.amazon.com",
    "aws-cn": "https://{region}.console.amazonaws.cn",
    "aws-us-gov": "https://console.amazonaws-us-gov.com",
}


def parse(body: Any, config: Config) -> list[InboundEvent]:
    if not isinstance(body, dict) or not isinstance(body.get("Message"), str):
        raise InvalidPayload(["an SNS Notification with a Message is required"])
    topic = body.get("TopicArn")
    if config.topic_arns and topic not in config.topic_arns:
        raise InvalidPayload([f"TopicArn {str(topic)[:300]!r} is not one of topicArns"])
    alarm = _alarm(body["Message"])
    name = scalar_text(alarm["AlarmName"])
    state = alarm["NewStateValue"]
    message_id = body.get("MessageId")
    idempotency_key = f"sns:{message_id}"[:255] if isinstance(message_id, str) else None
    partition, region, account = _location(alarm)
    key = _dedup_key(account, region, name)
    if state == "OK":
        return [InboundEvent(action="resolve", dedup_key=key, idempotency_key=idempotency_key)]
    if state == "INSUFFICIENT_DATA" and config.insufficient_data == "ignore":
        return []
    severity = "warning" if state == "INSUFFICIENT_DATA" else _severity(alarm, config)
    reason = scalar_text(alarm.get("NewStateReason"))
    summary = clip(f"{name}: {reason}" if reason else name)
    trigger = alarm.get("Trigger")
    trigger = trigger if isinstance(trigger, dict) else {}
    source = clip(
        _dimensions(trigger) or scalar_text(trigger.get("Namespace")) or "cloudwatch", 255
    )
    url = _console_url(partition, region, name)
    return [
        alert_event(
            "trigger",
            key,
            summary=summary,
            source=source,
            severity=severity,
            details=alarm,
            component=scalar_text(trigger.get("MetricName")) or None,
            group=scalar_text(trigger.get("Namespace")) or None,
            timestamp=scalar_text(alarm.get("StateChangeTime")) or None,
            links=[Link(href=url, text="View alarm in CloudWatch")] if url else [],
            client=CLIENT,
            client_url=url,
            idempotency_key=idempotency_key,
        )
    ]


def _alarm(message: str) -> dict[str, Any]:
    try:
        alarm = json.loads(message)
    except ValueError as err:
        raise InvalidPayload(["Message is not JSON (not a CloudWatch alarm)"]) from err
    if not isinstance(alarm, dict):
        raise InvalidPayload(["Message must be a CloudWatch alarm (a JSON object)"])
    if not storable(alarm):
        raise InvalidPayload(["Message contains NUL characters or unpaired surrogates"])
    errors = []
    if not scalar_text(alarm.get("AlarmName")):
        errors.append("Message.AlarmName: required")
    if alarm.get("NewStateValue") not in ("ALARM", "OK", "INSUFFICIENT_DATA"):
        errors.append("Message.NewStateValue: must be ALARM, OK or INSUFFICIENT_DATA")
    if errors:
        raise InvalidPayload(errors)
    return alarm


def _location(alarm: dict[str, Any]) -> tuple[str | None, str, str]:
    """(partition, region, account) from AlarmArn; else the Region (a display name such as
    "EU (Ireland)") and AWSAccountId fields, with no partition."""
    arn = alarm.get("AlarmArn")
    match = _ARN.fullmatch(arn) if isinstance(arn, str) else None
    if match:
        return match.group(1), match.group(2), match.group(3)
    return None, scalar_text(alarm.get("Region")), scalar_text(alarm.get("AWSAccountId"))


def _dedup_key(account: str, region: str, name: str) -> str:
    key = f"cloudwatch:{account}:{region}:{name}"
    return key if len(key) <= MAX_DEDUP_KEY else f"cloudwatch:{stable_key(account, region, name)}"


def _severity(alarm: dict[str, Any], config: Config) -> Severity:
    match = _SEVERITY_IN_DESCRIPTION.search(scalar_text(alarm.get("AlarmDescription")))
    return (lookup(match.group(1)) if match else None) or config.severity


def _dimensions(trigger: dict[str, Any]) -> str:
    """ "InstanceId=i-0abc" for the alarm's metric dimensions: where the problem is."""
    dimensions = trigger.get("Dimensions")
    if not isinstance(dimensions, list):
        return ""
    pairs = [
        f"{scalar_text(d.get('name'))}={scalar_text(d.get('value'))}"
        for d in dimensions
        if isinstance(d, dict) and scalar_text(d.get("name"))
    ]
    return ",".join(pairs)


def _console_url(partition: str | None, region: str, name: str) -> str | None:
    console = _CONSOLES.get(partition or "")
    if console is None:
        return None
    base = console.format(region=region)
    return f"{base}/cloudwatch/home?region={region}#alarmsV2:alarm/{quote(name, safe='')}"
