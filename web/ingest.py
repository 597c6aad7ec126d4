"""The one way an accepted event reaches its incident, whichever endpoint received it.

/api/events, PagerDuty's /v2/enqueue and v1 endpoint, and every native integration turn
their bodies into ``InboundEvent``s and hand them here: suppression is evaluated, a trigger
becomes one SignalWithStart, an acknowledge or resolve one update.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from tocsin import logs
from tocsin.metrics import EVENTS
from web.integrations.event import InboundEvent
from web.runtime import Runtime
from web.schemas import EventIncident
from web.suppression_match import first_matching_rule
from workflows.messages import ActionIn, AlertIn, Status, Urgency
from workflows.severity import higher_urgency, urgency_for

log = logging.getLogger("tocsin.ingest")

# Outcomes that change no incident: logged at DEBUG.
QUIET_RESULTS = frozenset({"deduplicated", "ignored"})

Outcome = Literal["triggered", "deduplicated", "acknowledged", "resolved", "ignored"]


@dataclass(frozen=True)
class Submitted:
    dedup_key: str
    action: Outcome
    incident: EventIncident | None


async def submit(
    rt: Runtime,
    service_id: str,
    actor: str,
    event: InboundEvent,
    *,
    idempotency_key: str | None = None,
) -> Submitted:
    """Deliver ``event`` to the service's incident for its dedup key.

    ``idempotency_key`` (a client's header) wins over the adapter's content key.
    """
    key = idempotency_key or event.idempotency_key
    if event.action == "trigger":
        submitted = await _trigger(rt, service_id, actor, event, key)
    else:
        submitted = await _act(rt, service_id, actor, event, key)
    _count(event, submitted)
    return submitted


def _count(event: InboundEvent, submitted: Submitted) -> None:
    """``tocsin_events_total`` (a suppressed new incident counts as ``suppressed``), and the
    incident id on the rest of the request's log lines."""
    result: str = submitted.action
    if submitted.incident is not None:
        logs.bind(incident_id=submitted.incident.id)
        if result == "triggered" and submitted.incident.status == Status.SUPPRESSED.value:
            result = "suppressed"
    EVENTS.labels(event.action, result).inc()
    # A repeat that changed nothing is DEBUG: in a storm a line per repeat cost the API
    # about a twentieth of its CPU, and the counter above has it (docs/observability.md).
    level = logging.DEBUG if result in QUIET_RESULTS else logging.INFO
    log.log(level, "event %s: %s (dedup key %s)", event.action, result, submitted.dedup_key)


async def _act(
    rt: Runtime, service_id: str, actor: str, event: InboundEvent, key: str | None
) -> Submitted:
    result = await rt.commands.act(
        service_id, event.dedup_key, event.action, ActionIn(actor=actor, idempotency_key=key)
    )
    if result.action == "ignored" or result.incident is None:
        return Submitted(event.dedup_key, "ignored", None)
    snap = result.incident
    incident = EventIncident(
        id=snap.id, title=snap.title, status=snap.status.value, urgency=snap.urgency.value
    )
    outcome: Outcome = "acknowledged" if result.action == "acknowledged" else "resolved"
    return Submitted(event.dedup_key, outcome, incident)


async def _trigger(
    rt: Runtime, service_id: str, actor: str, event: InboundEvent, idempotency_key: str | None
) -> Submitted:
    received_at = datetime.now(UTC)
    alert = AlertIn(
        summary=event.summary,
        source=event.source,
        severity=event.severity,
        custom_details=event.custom_details,
        payload=event.payload,
        received_at=received_at,
        idempotency_key=idempotency_key,
        actor=actor,
        suppressed_by=first_matching_rule(
            await rt.config.suppression_rules(service_id), event.payload, received_at
        ),
        links=event.links,
        images=event.images,
        client=event.client,
        client_url=event.client_url,
    )
    outcome = await rt.commands.trigger(service_id, event.dedup_key, alert)
    # The event is durable now. A new incident is exactly what this alert makes it, so the
    # answer does not wait for the worker; a repeated alert reports the incident as the read
    # side has it (its status may have moved on), through the shared batched poller.
    if outcome.started:
        rt.waiter.accepted(outcome.incident_id, service_id, rt.settings.read_wait_seconds)
        return Submitted(
            event.dedup_key,
            "triggered",
            EventIncident(
                id=outcome.incident_id,
                title=event.summary,
                status="SUPPRESSED" if alert.suppressed_by else "OPEN",
                urgency=urgency_for(event.severity).value,
            ),
        )
    row = await rt.waiter.wait(outcome.incident_id, rt.settings.read_wait_seconds)
    incident = (
        EventIncident(
            id=outcome.incident_id,
            title=event.summary,
            status=row.status,
            urgency=higher_urgency(Urgency(row.urgency), urgency_for(event.severity)).value,
        )
        if row is not None
        else EventIncident(
            id=outcome.incident_id,
            title=event.summary,
            status="OPEN",
            urgency=urgency_for(event.severity).value,
        )
    )
    return Submitted(event.dedup_key, "deduplicated", incident)
