"""``POST /api/events``: the Events API of seeds 000 and 001."""

from collections.abc import Mapping

from pydantic import ValidationError
from quart import Blueprint, Response
from quart_schema import document_request, document_response, tag

from models import Service
from models.db import session_scope
from web.auth import Principal, authenticate
from web.bodies import parse_json_as
from web.errors import ApiError, error_responses, invalid_request
from web.ingest import submit
from web.integrations.event import InboundEvent
from web.integrations.registry import EVENTS_API
from web.runtime import Runtime
from web.schemas import EventRequest, EventResponse, EventResult, TriggerPayload

blueprint = Blueprint("events", __name__)
# The metrics' name of the endpoint (Quart's name of the route below).
ENDPOINT = "events.post_event"


@blueprint.post("/api/events")
@tag(["events"])
@document_request(EventRequest)
@document_response(EventResponse, 202)
@error_responses(400, 401, 403, 404, 408, 413, 429, 503)
async def post_event() -> Response:
    """Trigger, acknowledge or resolve an incident.

    Authenticate with ``Authorization: Token token=<integration key>`` or
    ``Authorization: Bearer <API key>`` (scope events:write, with ``service_id`` or
    ``routing_key`` in the body). 202 means the event is durably stored.
    """
    # The route documents the endpoint; web.ingest_asgi answers it with ``answer_event``
    # before Quart sees the request.
    raise RuntimeError("POST /api/events is answered by web.ingest_asgi")


async def answer_event(rt: Runtime, headers: Mapping[str, str], body: bytes) -> EventResponse:
    """The answer to one ``POST /api/events`` (``headers``: lower-case names); any refusal
    is raised as an ``ApiError``."""
    principal = await authenticate(rt, headers.get("authorization"), integration_keys=True)
    principal.require_scope("events:write")
    retry_after = await rt.limiter.acquire(principal.actor)
    if retry_after is not None:
        raise ApiError(
            429,
            "RATE_LIMITED",
            "Rate limit exceeded.",
            headers={"Retry-After": str(retry_after)},
        )
    event = parse_json_as(EventRequest, body)
    service_id = await _target_service(rt, principal, event)
    submitted = await submit(
        rt,
        service_id,
        principal.actor,
        _inbound(event),
        idempotency_key=headers.get("idempotency-key") or None,
    )
    return EventResponse(
        dedup_key=submitted.dedup_key,
        incident_key=submitted.incident.id if submitted.incident else None,
        result=EventResult(action=submitted.action, incident=submitted.incident),
    )


async def _target_service(rt: Runtime, principal: Principal, event: EventRequest) -> str:
    """The service the event is for: the integration key's, or the one the body names."""
    if principal.kind == "integration":
        assert principal.service_ids is not None
        return next(iter(principal.service_ids))
    if event.service_id is not None:
        service_id = event.service_id
    elif event.routing_key is not None:
        integration = await rt.config.integration(event.routing_key, EVENTS_API)
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


def _inbound(event: EventRequest) -> InboundEvent:
    if event.event_action != "trigger":
        return InboundEvent(action=event.event_action, dedup_key=event.dedup_key)
    if event.payload is None:
        raise ApiError(
            400, "INVALID_REQUEST", "Invalid request body: payload is required", field="payload"
        )
    try:
        payload = TriggerPayload.model_validate(event.payload)
    except ValidationError as err:
        raise invalid_request(err, prefix="payload") from err
    return InboundEvent(
        action="trigger",
        dedup_key=event.dedup_key,
        summary=payload.summary,
        source=payload.source,
        severity=payload.severity,
        custom_details=payload.custom_details,
        payload=event.payload,
    )
