"""Pydantic messages shared by web/, workflows/ and activities/.

Everything here crosses the Temporal boundary through ``pydantic_data_converter``; field
changes must stay backwards compatible with histories already recorded (add optional fields,
never rename).
"""

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field

Severity = Literal["critical", "error", "warning", "info"]


class Status(StrEnum):
    OPEN = "OPEN"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    RESOLVED = "RESOLVED"
    SNOOZED = "SNOOZED"
    SUPPRESSED = "SUPPRESSED"


class Urgency(StrEnum):
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"


class EscalationStatus(StrEnum):
    ACTIVE = "ACTIVE"
    COMPLETED = "COMPLETED"


class Link(BaseModel):
    """A link the sender attached to an alert (PagerDuty ``links[]``)."""

    href: str
    text: str | None = None


class Image(BaseModel):
    """An image the sender attached to an alert (PagerDuty ``images[]``; https only)."""

    src: str
    href: str | None = None
    alt: str | None = None


class AlertIn(BaseModel):
    """One trigger event as the API accepted it."""

    summary: str
    source: str
    severity: Severity
    custom_details: dict[str, Any] | None = None
    payload: dict[str, Any] = Field(default_factory=dict, description="the raw event payload")
    received_at: datetime
    idempotency_key: str | None = None
    actor: str = ""
    # The suppression rule that matched this alert, if any (evaluated by the API).
    suppressed_by: str | None = None
    links: list[Link] = Field(default_factory=list)
    images: list[Image] = Field(default_factory=list)
    # The monitoring tool that sent the alert, and where to look at it there.
    client: str | None = None
    client_url: str | None = None


class ManualOpenIn(BaseModel):
    """An incident opened by a person through ``POST /api/incidents``."""

    title: str
    description: str | None = None
    urgency: Urgency = Urgency.HIGH
    priority: str | None = None
    opened_at: datetime
    actor: str = ""


class ChangeIn(BaseModel):
    """``PATCH /api/incidents/:id``: only the fields that are set change."""

    status: Status | None = None
    snoozed_until: datetime | None = None
    urgency: Urgency | None = None
    priority: str | None = None
    priority_set: bool = False
    assignee_id: str | None = None
    assignee_set: bool = False
    actor: str = ""


class NoteIn(BaseModel):
    kind: Literal["note", "update"] = "note"
    body: str
    notify_subscribers: bool = False
    actor: str = ""


# The message of the timeline entry a manually opened incident starts with (an alert's
# incident starts with "Triggered"); the audit log tells the two apart by it.
OPENED_MANUALLY = "Opened manually"


class TimelineEntry(BaseModel):
    seq: int
    at: datetime
    kind: str
    actor: str
    message: str
    data: dict[str, Any] = Field(default_factory=dict)


class ActionIn(BaseModel):
    """An acknowledge or resolve request."""

    actor: str = ""
    idempotency_key: str | None = None


class AlertRecord(BaseModel):
    seq: int
    received_at: datetime
    summary: str
    source: str
    severity: Severity
    payload: dict[str, Any]
    links: list[Link] = Field(default_factory=list)
    images: list[Image] = Field(default_factory=list)
    client: str | None = None
    client_url: str | None = None


class IncidentSnapshot(BaseModel):
    """The incident as the read side stores it; ``version`` orders projections."""

    id: str
    workflow_id: str
    service_id: str
    dedup_key: str
    title: str
    description: str | None
    status: Status
    urgency: Urgency
    priority: str | None = None
    assignee_id: str | None = None
    escalation_status: EscalationStatus
    alert_count: int
    created_at: datetime
    last_alert_at: datetime
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    snoozed_until: datetime | None = None
    # What a snooze returns to when it expires (OPEN or ACKNOWLEDGED).
    status_before_snooze: Status | None = None
    suppressed_by: str | None = None
    version: int
    # Set on the copy the projection writes: when the workflow task that decided it started
    # (activities/projection.py orders writes by it, then by version).
    decided_at: datetime | None = None


class IncidentStart(BaseModel):
    """Workflow input: empty for a new incident, the carried state after continue-as-new."""

    service_id: str
    dedup_key: str
    incident: IncidentSnapshot | None = None
    next_alert_seq: int = 1
    projected_version: int = 0
    recent_idempotency_keys: list[str] = Field(default_factory=list)
    next_timeline_seq: int = 1
    # workflows/notifier.py NotifierState, kept opaque here (it depends on these messages).
    notifier: dict[str, Any] | None = None


class Projection(BaseModel):
    incident: IncidentSnapshot
    alerts: list[AlertRecord]
    timeline: list[TimelineEntry] = Field(default_factory=list)
    # The first timeline seq not yet written by an earlier projection of this history.
    timeline_from: int = 0


ActionName = Literal["acknowledged", "resolved", "ignored", "updated"]


class ActionResult(BaseModel):
    action: ActionName
    incident: IncidentSnapshot | None
