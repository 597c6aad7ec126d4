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


class Urgency(StrEnum):
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"


class EscalationStatus(StrEnum):
    ACTIVE = "ACTIVE"
    COMPLETED = "COMPLETED"


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
    version: int


class IncidentStart(BaseModel):
    """Workflow input: empty for a new incident, the carried state after continue-as-new."""

    service_id: str
    dedup_key: str
    incident: IncidentSnapshot | None = None
    next_alert_seq: int = 1
    projected_version: int = 0
    recent_idempotency_keys: list[str] = Field(default_factory=list)


class Projection(BaseModel):
    incident: IncidentSnapshot
    alerts: list[AlertRecord]


ActionName = Literal["acknowledged", "resolved", "ignored"]


class ActionResult(BaseModel):
    action: ActionName
    incident: IncidentSnapshot | None
