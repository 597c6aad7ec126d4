"""Request and response models of the public API (they also make the OpenAPI document)."""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from workflows.messages import Severity

# --- Events API (seeds 000/001) -------------------------------------------------------------


class TriggerPayload(BaseModel):
    summary: str = Field(min_length=1, max_length=500)
    source: str = Field(min_length=1, max_length=200)
    severity: Severity
    custom_details: dict[str, Any] | None = None


class EventRequest(BaseModel):
    event_action: Literal["trigger", "acknowledge", "resolve"]
    dedup_key: str = Field(min_length=1, max_length=200)
    routing_key: str | None = Field(default=None, description="an integration key")
    service_id: str | None = None
    payload: dict[str, Any] | None = Field(
        default=None,
        description="required on trigger (see TriggerPayload); optional otherwise",
    )


class EventIncident(BaseModel):
    id: str
    title: str
    status: str
    urgency: str


class EventResult(BaseModel):
    action: Literal["triggered", "deduplicated", "acknowledged", "resolved", "ignored"]
    incident: EventIncident | None


class EventResponse(BaseModel):
    status: Literal["success"] = "success"
    message: str = "Event processed"
    dedup_key: str
    incident_key: str | None
    result: EventResult


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


# --- Incidents API (seed 003) ---------------------------------------------------------------


class CamelModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class ServiceRef(CamelModel):
    id: str
    name: str


class UserRef(CamelModel):
    id: str


class IncidentOut(CamelModel):
    id: str
    title: str
    description: str | None
    status: str
    urgency: str
    priority: str | None
    service: ServiceRef
    assignee: UserRef | None
    dedup_key: str
    alert_count: int
    escalation_status: str
    created_at: datetime
    last_alert_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    snoozed_until: datetime | None = None
    suppressed_by: str | None = Field(default=None, description="the suppression rule's id")


class LinkOut(CamelModel):
    href: str
    text: str | None = None


class ImageOut(CamelModel):
    src: str
    href: str | None = None
    alt: str | None = None


class AlertOut(CamelModel):
    seq: int
    received_at: datetime
    summary: str
    source: str
    severity: str
    payload: dict[str, Any]
    links: list[LinkOut] = Field(default_factory=list)
    images: list[ImageOut] = Field(default_factory=list)
    client: str | None = None
    client_url: str | None = None


class ChangeEventOut(CamelModel):
    """A PagerDuty change event (``POST /v2/change/enqueue``): a deploy, a config change."""

    id: str
    summary: str
    source: str | None
    timestamp: datetime = Field(description="when the change happened")
    custom_details: dict[str, Any] | None
    links: list[LinkOut]
    received_at: datetime


class IncidentDetail(IncidentOut):
    alerts: list[AlertOut] = Field(description="the newest alerts, at most 100")
    change_events: list[ChangeEventOut] = Field(
        default_factory=list,
        description="the service's change events from the hour before the incident opened, "
        "newest first",
    )


class IncidentList(CamelModel):
    incidents: list[IncidentOut]
    total: int
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page")


class IncidentListQuery(CamelModel):
    limit: int = Field(default=50, ge=1, description="capped at 200")
    status: str | None = None
    service_id: str | None = None
    cursor: str | None = None


# --- Incidents API, write half (seed 003) and updates (seed 004) ----------------------------

Priority = Literal["P1", "P2", "P3", "P4"]


class IncidentCreate(CamelModel):
    title: str = Field(min_length=1, max_length=500)
    service_id: str = Field(min_length=1)
    description: str | None = Field(default=None, max_length=20_000)
    urgency: str = Field(default="HIGH", description="HIGH, MEDIUM or LOW (any case)")
    priority: Priority | None = None


class IncidentPatch(CamelModel):
    status: str | None = Field(
        default=None, description="OPEN, ACKNOWLEDGED, RESOLVED or SNOOZED (any case)"
    )
    urgency: str | None = Field(default=None, description="HIGH, MEDIUM or LOW (any case)")
    priority: Priority | None = None
    assignee_id: str | None = Field(default=None, description='a user id; "" or null unassigns')
    snooze_minutes: int | None = Field(default=None, ge=1, le=10080)
    snoozed_until: datetime | None = None


class NoteCreate(CamelModel):
    body: str = Field(min_length=1, max_length=10_000)


class NoteOut(CamelModel):
    id: int
    body: str
    actor: str
    created_at: datetime


class NoteList(CamelModel):
    notes: list[NoteOut]


class UpdateCreate(CamelModel):
    body: str = Field(min_length=1, max_length=10_000)
    notify_subscribers: bool = False


class UpdateOut(CamelModel):
    id: int
    incident_id: str
    body: str
    notify_subscribers: bool
    created_at: datetime


class UpdateEnvelope(CamelModel):
    data: UpdateOut


class UpdateList(CamelModel):
    data: list[UpdateOut]


class TimelineEntryOut(CamelModel):
    seq: int
    at: datetime
    kind: str
    actor: str
    message: str
    data: dict[str, Any]


class TimelineQuery(CamelModel):
    after: int = Field(default=0, ge=0, le=2**31 - 1)
    limit: int = Field(default=500, ge=1, description="capped at 1000")


class Timeline(CamelModel):
    timeline: list[TimelineEntryOut]


class PriorityOut(CamelModel):
    id: Priority
    response_time: str
    response_time_minutes: int
    use_case: str


class PriorityList(CamelModel):
    priorities: list[PriorityOut]


class DeliveryAttemptOut(CamelModel):
    attempt: int
    at: datetime
    ok: bool
    detail: str | None
    data: dict[str, Any]


class DeliveryOut(CamelModel):
    key: str = Field(description="the delivery's exactly-once identity")
    channel: str
    purpose: str = Field(description="page, announce, update or reply")
    event_type: str
    address: str
    user_id: str | None
    step: int | None
    round: int | None
    status: str = Field(description="sending, sent, failed or skipped")
    detail: str | None
    external_id: str | None
    created_at: datetime
    updated_at: datetime
    attempts: list[DeliveryAttemptOut]


class DeliveryList(CamelModel):
    notifications: list[DeliveryOut]
