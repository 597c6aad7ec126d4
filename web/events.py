"""``POST /api/events``: the Events API of seeds 000 and 001."""

from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from quart import Blueprint, request
from quart_schema import document_request, document_response, tag

from models import Service
from models.db import session_scope
from web.auth import Principal, authenticate, find_integration
from web.bodies import parse_body
from web.errors import ApiError, error_responses, invalid_request
from web.runtime import Runtime, runtime
from web.schemas import (
    EventIncident,
    EventRequest,
    EventResponse,
    EventResult,
    TriggerPayload,
)
from web.suppression_lookup import suppressing_rule
from workflows.messages import ActionIn, AlertIn
from workflows.severity import urgency_for

blueprint = Blueprint("events", __name__)


@blueprint.post("/api/events")
@tag(["events"])
@document_request(EventRequest)
@document_response(EventResponse, 202)
@error_responses(400, 401, 403, 404, 429)
async def post_event() -> tuple[dict[str, Any], int]:
    """Trigger, acknowledge or resolve an incident.

    Authenticate with ``Authorization: Token token=<integration key>`` or
    ``Authorization: Bearer <API key>`` (scope events:write, with ``service_id`` or
    ``routing_key`` in the body). 202 means the event is durably stored.
    """
    rt = runtime()
    principal = await authenticate(
        rt.engine, request.headers.get("Authorization"), allow_integration=True
    )
    principal.require_scope("events:write")
    retry_after = rt.limiter.acquire(principal.actor)
    if retry_after is not None:
        raise ApiError(
            429,
            "RATE_LIMITED",
            "Rate limit exceeded.",
            headers={"Retry-After": str(retry_after)},
        )
    event = await parse_body(EventRequest)
    service_id = await _target_service(rt, principal, event)
    response = await _dispatch(rt, principal, service_id, event)
    return response.model_dump(mode="json"), 202


async def _target_service(rt: Runtime, principal: Principal, event: EventRequest) -> str:
    """The service the event is for: the integration key's, or the one the body names."""
    if principal.kind == "integration":
        assert principal.service_ids is not None
        return next(iter(principal.service_ids))
    if event.service_id is not None:
        service_id = event.service_id
    elif event.routing_key is not None:
        integration = await find_integration(rt.engine, event.routing_key)
        if integration is None:
            raise ApiError(404, "INVALID_ROUTING_KEY", "Routing key not found")
        service_id = integration.service_id
    else:
        raise ApiError(
            400,
            "INVALID_REQUEST",
            "Invalid request body: service_id or routing_key is required with an API key",
            field="service_id",
        )
    if not principal.can_access(service_id):
        raise ApiError(403, "SERVICE_ACCESS_DENIED", "API key has no access to this service")
    async with session_scope(rt.engine) as session:
        service = await session.get(Service, service_id)
        if service is None or service.deleted_at is not None:
            raise ApiError(404, "SERVICE_NOT_FOUND", "Service not found")
    return service_id


async def _dispatch(
    rt: Runtime, principal: Principal, service_id: str, event: EventRequest
) -> EventResponse:
    idempotency_key = request.headers.get("Idempotency-Key") or None
    if event.event_action == "trigger":
        return await _trigger(rt, principal, service_id, event, idempotency_key)
    action = "acknowledge" if event.event_action == "acknowledge" else "resolve"
    result = await rt.commands.act(
        service_id,
        event.dedup_key,
        action,
        ActionIn(actor=principal.actor, idempotency_key=idempotency_key),
    )
    incident = None
    if result.action != "ignored" and result.incident is not None:
        snap = result.incident
        incident = EventIncident(
            id=snap.id, title=snap.title, status=snap.status.value, urgency=snap.urgency.value
        )
    return EventResponse(
        dedup_key=event.dedup_key,
        incident_key=incident.id if incident else None,
        result=EventResult(action=result.action, incident=incident),
    )


async def _trigger(
    rt: Runtime,
    principal: Principal,
    service_id: str,
    event: EventRequest,
    idempotency_key: str | None,
) -> EventResponse:
    if event.payload is None:
        raise ApiError(
            400, "INVALID_REQUEST", "Invalid request body: payload is required", field="payload"
        )
    try:
        payload = TriggerPayload.model_validate(event.payload)
    except ValidationError as err:
        raise invalid_request(err, prefix="payload") from err
    received_at = datetime.now(UTC)
    alert = AlertIn(
        summary=payload.summary,
        source=payload.source,
        severity=payload.severity,
        custom_details=payload.custom_details,
        payload=event.payload,
        received_at=received_at,
        idempotency_key=idempotency_key,
        actor=principal.actor,
        suppressed_by=await suppressing_rule(rt.engine, service_id, event.payload, received_at),
    )
    outcome = await rt.commands.trigger(service_id, event.dedup_key, alert)
    # The event is durable now; waiting for the read side only makes the incident readable
    # as soon as this answer arrives. If the projection lags, answer anyway.
    row = await rt.waiter.wait(outcome.incident_id, rt.settings.read_wait_seconds)
    if row is not None:
        incident = EventIncident(id=row.id, title=row.title, status=row.status, urgency=row.urgency)
    else:
        incident = EventIncident(
            id=outcome.incident_id,
            title=payload.summary,
            status="OPEN",
            urgency=urgency_for(payload.severity).value,
        )
    return EventResponse(
        dedup_key=event.dedup_key,
        incident_key=incident.id,
        result=EventResult(
            action="triggered" if outcome.started else "deduplicated", incident=incident
        ),
    )
