"""Builders shared by the Slack tests: incident events, deliveries, signed Slack requests."""

import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from tests.fakes.slack_api import TEST_SIGNING_SECRET
from workflows.messages import EscalationStatus, IncidentSnapshot, Status, Urgency
from workflows.notifications import Channel, Delivery, EventType, IncidentEvent, Purpose


def incident_event(
    status: Status = Status.OPEN,
    *,
    title: str = "CPU above 90%",
    actor: str = "integration:int_1",
    message: str = "Triggered",
    custom_details: dict[str, Any] | None = None,
) -> IncidentEvent:
    now = datetime.now(UTC)
    incident = IncidentSnapshot(
        id="inc_" + uuid.uuid4().hex,
        workflow_id="incident/svc_1/cpu",
        service_id="svc_1",
        dedup_key="cpu",
        title=title,
        description=None,
        status=status,
        urgency=Urgency.HIGH,
        priority="P1",
        escalation_status=EscalationStatus.ACTIVE,
        alert_count=1,
        created_at=now,
        last_alert_at=now,
        snoozed_until=now if status == Status.SNOOZED else None,
        version=1,
    )
    event_type = {
        Status.OPEN: EventType.TRIGGERED,
        Status.ACKNOWLEDGED: EventType.ACKNOWLEDGED,
        Status.RESOLVED: EventType.RESOLVED,
        Status.SNOOZED: EventType.SNOOZED,
        Status.SUPPRESSED: EventType.TRIGGERED,
    }[status]
    return IncidentEvent(
        seq=1,
        type=event_type,
        at=now,
        actor=actor,
        message=message,
        incident=incident,
        service_name="API Gateway",
        source="prometheus",
        custom_details=custom_details,
    )


def delivery(
    purpose: Purpose,
    address: str,
    event: IncidentEvent | None = None,
    **fields: Any,
) -> Delivery:
    return Delivery(
        key=f"test/{uuid.uuid4().hex}",
        channel=Channel.SLACK,
        purpose=purpose,
        address=address,
        event=event or incident_event(),
        **fields,
    )


def signed(
    body: str, *, secret: str = TEST_SIGNING_SECRET, timestamp: int | None = None
) -> dict[str, str]:
    """Headers Slack sends: ``v0=`` HMAC-SHA256 of ``v0:{timestamp}:{body}``."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": "application/x-www-form-urlencoded",
    }


def interaction_body(
    action_id: str,
    incident_id: str,
    *,
    user_id: str,
    username: str,
    response_url: str,
) -> str:
    payload = {
        "type": "block_actions",
        "user": {"id": user_id, "username": username, "name": username, "team_id": "T0FAKE"},
        "team": {"id": "T0FAKE", "domain": "fake"},
        "api_app_id": "A0TOCSIN",
        "trigger_id": "1.2.3",
        "response_url": response_url,
        "container": {"type": "message", "channel_id": "C1", "message_ts": "1700000000.000100"},
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "tocsin.actions",
                "value": incident_id,
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)})


def command_body(text: str, *, user_id: str, username: str, response_url: str) -> str:
    return urlencode(
        {
            "token": "deprecated-verification-token",
            "team_id": "T0FAKE",
            "team_domain": "fake",
            "channel_id": "C1",
            "channel_name": "ops",
            "user_id": user_id,
            "user_name": username,
            "command": "/tocsin",
            "text": text,
            "api_app_id": "A0TOCSIN",
            "response_url": response_url,
            "trigger_id": "1.2.3",
        }
    )
