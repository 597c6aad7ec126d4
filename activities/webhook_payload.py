"""The JSON body of an outgoing webhook (pure; documented field by field in docs/webhooks.md).

Shaped like PagerDuty's v3 webhooks: an ``event`` envelope with snake_case keys around the
incident in ``data``, whose keys are camelCase like the Incidents API's. Only optional fields
may be added: receivers parse this.
"""

from datetime import datetime

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from activities.links import incident_url
from workflows.notifications import Delivery


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class WebhookIncident(_Camel):
    id: str
    title: str
    description: str | None
    status: str
    urgency: str
    priority: str | None
    assignee_id: str | None
    escalation_status: str
    alert_count: int
    service_id: str
    service_name: str | None
    dedup_key: str
    created_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    snoozed_until: datetime | None
    html_url: str


class Agent(BaseModel):
    """Who caused the event, from the timeline's actor string (``api_key:<id>``, ``timer``)."""

    type: str
    id: str | None
    summary: str


class WebhookEvent(BaseModel):
    id: str
    event_type: str
    occurred_at: datetime
    # The event's position in its incident's history: deliveries run concurrently and may
    # arrive out of order, and several events can share an occurred_at.
    sequence: int
    agent: Agent
    data: WebhookIncident
    message: str


class WebhookBody(BaseModel):
    event: WebhookEvent


def agent(actor: str) -> Agent:
    kind, sep, ident = actor.partition(":")
    if not kind:
        return Agent(type="system", id=None, summary=actor or "system")
    return Agent(type=kind, id=ident if sep and ident else None, summary=actor)


def webhook_body(delivery: Delivery, public_url: str) -> bytes:
    """The exact bytes that are signed and sent."""
    event = delivery.event
    incident = event.incident
    data = WebhookIncident(
        id=incident.id,
        title=incident.title,
        description=incident.description,
        status=incident.status.value,
        urgency=incident.urgency.value,
        priority=incident.priority,
        assignee_id=incident.assignee_id,
        escalation_status=incident.escalation_status.value,
        alert_count=incident.alert_count,
        service_id=incident.service_id,
        service_name=event.service_name,
        dedup_key=incident.dedup_key,
        created_at=incident.created_at,
        acknowledged_at=incident.acknowledged_at,
        resolved_at=incident.resolved_at,
        snoozed_until=incident.snoozed_until,
        html_url=incident_url(public_url, incident.id),
    )
    body = WebhookBody(
        event=WebhookEvent(
            id=delivery.key,
            event_type=event.type.value,
            occurred_at=event.at,
            sequence=event.seq,
            agent=agent(event.actor),
            data=data,
            message=event.message,
        )
    )
    return body.model_dump_json(by_alias=True).encode()
