"""Messages of the notification path: what the workflow asks the senders to deliver.

Like workflows/messages.py these cross the Temporal boundary: add optional fields only.
"""

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, model_validator

from workflows.messages import IncidentSnapshot, Urgency


class Channel(StrEnum):
    SLACK = "slack"
    EMAIL = "email"
    WEBHOOK = "webhook"


class EventType(StrEnum):
    """Lifecycle events, as webhooks name them (docs/webhooks.md)."""

    TRIGGERED = "incident.triggered"
    ACKNOWLEDGED = "incident.acknowledged"
    RESOLVED = "incident.resolved"
    SNOOZED = "incident.snoozed"
    REOPENED = "incident.reopened"
    ESCALATED = "incident.escalated"
    UPDATED = "incident.updated"  # urgency, priority or assignee changed
    ANNOTATED = "incident.annotated"  # a note or a status update was added


class IncidentEvent(BaseModel):
    """One thing that happened to an incident, with the incident as it was right after."""

    # The timeline seq of the entry that records it: unique within the incident.
    seq: int
    type: EventType
    at: datetime
    actor: str
    message: str
    incident: IncidentSnapshot
    # Context for people reading a notification (the latest alert's, where there is one).
    service_name: str | None = None
    source: str | None = None
    custom_details: dict[str, Any] | None = None


class Purpose(StrEnum):
    PAGE = "page"  # a person, for an escalation step (Slack DM, email, personal webhook)
    ANNOUNCE = "announce"  # the service's channel: Slack channel message, service webhook
    UPDATE = "update"  # edit a Slack message posted earlier (``slack_ts``) in place
    REPLY = "reply"  # a reply in the thread of a Slack message posted earlier


class Recipient(BaseModel):
    user_id: str
    name: str


class Delivery(BaseModel):
    """One notification. ``key`` is its exactly-once identity: a retried or replayed
    activity with the same key never sends twice (activities/deliveries.py)."""

    key: str
    channel: Channel
    purpose: Purpose
    # Slack: a channel or user id (or, for a person without a Slack id, their email, which
    # the Slack sender turns into an id with users.lookupByEmail); email: an address;
    # webhook: a URL.
    address: str
    event: IncidentEvent
    recipient: Recipient | None = None
    # Escalation step (1-based) and round (0-based) of a page.
    step: int | None = None
    round: int | None = None
    # A page: when its escalation step was due (the page lateness metric, tocsin/metrics.py).
    due_at: datetime | None = None
    # UPDATE and REPLY: the Slack message they refer to.
    slack_channel: str | None = None
    slack_ts: str | None = None
    # The retry policy's maximum attempts: the last attempt records a final failure.
    max_attempts: int = 1


DeliveryStatus = Literal["sent", "failed", "skipped"]


class DeliveryResult(BaseModel):
    key: str
    status: DeliveryStatus
    detail: str | None = None
    # Slack: where the message landed, so later state changes update it in place.
    slack_channel: str | None = None
    slack_ts: str | None = None


class SlackMessage(BaseModel):
    """A Slack message the incident posted; edited in place on every state change."""

    channel: str
    ts: str
    # True for the service channel's message: resolve replies in its thread.
    announcement: bool = False
    # The event it was posted for: it already shows that state.
    seq: int = 0


class Page(BaseModel):
    """Who a step notifies, on which channel, at which address."""

    recipient: Recipient
    channel: Channel
    address: str


class StepTargets(BaseModel):
    """Input of the recipient lookup: a step's targets, resolved at the time it fires."""

    service_id: str
    targets: list[dict[str, str]]
    urgency: Urgency
    channels: list[Channel] | None = None
    # When the step fired (workflow time): schedules are resolved at this instant. None
    # (inputs recorded before schedules): the activity's clock.
    at: datetime | None = None


class ScheduleOnCall(BaseModel):
    """A schedule target as its step fired: who was on call (empty: nobody)."""

    schedule_id: str
    name: str
    on_call: list[Recipient] = []


class StepRecipients(BaseModel):
    """What the recipient lookup found: the step's pages, and who each schedule target
    resolved to (for the timeline). Histories recorded before schedule targets hold a bare
    list of pages, still read as ``pages``."""

    pages: list[Page] = []
    schedules: list[ScheduleOnCall] = []

    @model_validator(mode="before")
    @classmethod
    def _bare_pages(cls, value: Any) -> Any:
        return {"pages": value} if isinstance(value, list) else value


class ServiceChannels(BaseModel):
    """Where a service announces its incidents; read fresh for every event."""

    service_name: str | None = None
    slack_channel: str | None = None
    webhook_url: str | None = None


class IncidentRoomIn(BaseModel):
    """Open a P1/P2 incident's own Slack channel and invite its responders."""

    incident_id: str
    title: str
    # Responders' Slack user ids, or their emails (looked up with users.lookupByEmail).
    responders: list[str] = []


class IncidentRoom(BaseModel):
    """The incident's channel; ``channel`` is None when none was opened (``detail`` says why)."""

    channel: str | None = None
    name: str | None = None
    invited: list[str] = []
    detail: str | None = None


class CloseIncidentRoomIn(BaseModel):
    incident_id: str
    channel: str


class Handoff(BaseModel):
    """What a resolved incident leaves to the Deliveries child workflow."""

    deliveries: list[Delivery] = []
    close_room: CloseIncidentRoomIn | None = None


# --- handoff notifications (workflows/handoffs.py) -------------------------------------------


class HandoffsIn(BaseModel):
    """Input of a schedule's handoff workflow (and of each continue-as-new run)."""

    schedule_id: str


class HandoffPlanIn(BaseModel):
    schedule_id: str
    # Workflow time: the handoff looked for is the first one strictly after it.
    after: datetime


class HandoffPlan(BaseModel):
    """The schedule's next handoff: ``at`` None when there is none before ``horizon``;
    ``active`` False when the schedule is gone or has handoff notifications off."""

    active: bool
    at: datetime | None = None
    user_ids: list[str] = []
    horizon: datetime | None = None


class HandoffAt(BaseModel):
    """Who to tell, and how, about the handoff at ``start``."""

    schedule_id: str
    start: datetime


class HandoffNotice(BaseModel):
    """One handoff message to one address. ``key`` is its exactly-once identity in the
    ``notification`` table: (schedule, shift start, person, channel, address)."""

    key: str
    schedule_id: str
    channel: Channel
    address: str
    recipient: Recipient
    subject: str
    text: str
    max_attempts: int = 1
