"""Incidents API, read half (seed 003): list and fetch incidents from the read side."""

from pydantic import ValidationError
from quart import Blueprint, Response, request
from quart_schema import document_querystring, document_response, tag

from models import Incident, Service
from models.change_events import incident_change_events
from models.columns import utcnow
from models.db import session_scope
from web.auth import Principal, authenticate
from web.bodies import json_answer
from web.errors import ApiError, error_responses, invalid_request
from web.queries import (
    decode_cursor,
    encode_cursor,
    get_incident,
    latest_alerts,
    list_incidents,
    timeline_entries,
)
from web.runtime import runtime
from web.schemas import (
    AlertOut,
    ChangeEventOut,
    IncidentDetail,
    IncidentList,
    IncidentListQuery,
    IncidentOut,
    ServiceRef,
    Timeline,
    TimelineEntryOut,
    TimelineQuery,
    UserRef,
)
from workflows.ids import is_incident_id
from workflows.messages import Status

blueprint = Blueprint("incidents", __name__)

MAX_LIMIT = 200
# Status names accepted by the filter, case-insensitively; seed 003 calls OPEN "triggered".
STATUS_ALIASES = {s.value.lower(): s.value for s in Status} | {"triggered": Status.OPEN.value}


async def principal_with(scope: str) -> Principal:
    principal = await authenticate(runtime(), request.headers.get("Authorization"))
    principal.require_scope(scope)
    return principal


async def accessible_incident(principal: Principal, incident_id: str) -> tuple[Incident, Service]:
    """The incident and its service, or 404: another service's incident is reported as
    missing, not forbidden, so a key learns nothing about services it cannot reach."""
    found = await find_incident(incident_id)
    if found is None or not principal.can_access(found[0].service_id):
        raise ApiError(404, "NOT_FOUND", "Incident not found")
    return found


async def find_incident(incident_id: str) -> tuple[Incident, Service] | None:
    """The incident and its service from the read side. One accepted moments ago and not
    projected yet (an ingest answer does not wait for the read side) is waited for, so a
    request that follows the 202 (a GET, a Slack button) still finds it."""
    rt = runtime()
    found = await get_incident(rt.engine, incident_id)
    if found is None and is_incident_id(incident_id):
        if await rt.waiter.wait(incident_id, rt.settings.read_wait_seconds) is not None:
            found = await get_incident(rt.engine, incident_id)
    return found


def incident_out(incident: Incident, service: Service) -> IncidentOut:
    return IncidentOut(
        id=incident.id,
        title=incident.title,
        description=incident.description,
        status=incident.status,
        urgency=incident.urgency,
        priority=incident.priority,
        service=ServiceRef(id=service.id, name=service.name),
        assignee=UserRef(id=incident.assignee_id) if incident.assignee_id else None,
        dedup_key=incident.dedup_key,
        alert_count=incident.alert_count,
        escalation_status=incident.escalation_status,
        created_at=incident.created_at,
        last_alert_at=incident.last_alert_at,
        acknowledged_at=incident.acknowledged_at,
        resolved_at=incident.resolved_at,
        snoozed_until=incident.snoozed_until,
        suppressed_by=incident.suppressed_by,
    )


@blueprint.get("/api/incidents")
@tag(["incidents"])
@document_querystring(IncidentListQuery)
@document_response(IncidentList, 200)
@error_responses(400, 401, 403)
async def list_route() -> Response:
    """List incidents, newest first (scope incidents:read).

    ``limit`` defaults to 50 and is capped at 200; ``status`` is case-insensitive
    (``triggered`` means OPEN); ``cursor`` is the ``nextCursor`` of the previous page.
    """
    principal = await principal_with("incidents:read")
    try:
        query = IncidentListQuery.model_validate(request.args.to_dict())
    except ValidationError as err:
        raise invalid_request(err) from err
    status = None
    if query.status is not None:
        status = STATUS_ALIASES.get(query.status.lower())
        if status is None:
            raise ApiError(
                400, "INVALID_REQUEST", f"Unknown status {query.status!r}", field="status"
            )
    service_ids = principal.service_ids
    if query.service_id is not None:
        if not principal.can_access(query.service_id):
            raise ApiError(403, "SERVICE_ACCESS_DENIED", "API key has no access to this service")
        service_ids = frozenset({query.service_id})
    try:
        cursor = decode_cursor(query.cursor) if query.cursor else None
    except ValueError as err:
        raise ApiError(400, "INVALID_REQUEST", "Invalid cursor", field="cursor") from err
    limit = min(query.limit, MAX_LIMIT)
    # Read-your-writes: incidents this process accepted moments ago are listed.
    await runtime().waiter.settle(service_ids)
    rows, total = await list_incidents(
        runtime().engine, limit=limit, status=status, service_ids=service_ids, cursor=cursor
    )
    next_cursor = encode_cursor(rows[-1][0]) if len(rows) == limit else None
    page = IncidentList(
        incidents=[incident_out(i, s) for i, s in rows], total=total, next_cursor=next_cursor
    )
    return json_answer(page)


@blueprint.get("/api/incidents/<incident_id>")
@tag(["incidents"])
@document_response(IncidentDetail, 200)
@error_responses(401, 403, 404)
async def get_route(incident_id: str) -> Response:
    """One incident with its newest alerts and the change events of its service from the
    hour before it opened (scope incidents:read)."""
    principal = await principal_with("incidents:read")
    incident, service = await accessible_incident(principal, incident_id)
    engine = runtime().engine
    alerts = await latest_alerts(engine, incident.id)
    async with session_scope(engine, read_only=True) as session:
        changes = await incident_change_events(session, service.id, incident.created_at, utcnow())
    detail = IncidentDetail(
        **incident_out(incident, service).model_dump(),
        alerts=[AlertOut.model_validate(a, from_attributes=True) for a in alerts],
        change_events=[ChangeEventOut.model_validate(c, from_attributes=True) for c in changes],
    )
    return json_answer(detail)


@blueprint.get("/api/incidents/<incident_id>/timeline")
@tag(["incidents"])
@document_querystring(TimelineQuery)
@document_response(Timeline, 200)
@error_responses(404)
async def timeline_route(incident_id: str) -> Response:
    """Everything that happened to the incident, in order, with who or what did it
    (scope incidents:read). Page with ``after`` = the last ``seq`` seen."""
    principal = await principal_with("incidents:read")
    incident, _ = await accessible_incident(principal, incident_id)
    try:
        query = TimelineQuery.model_validate(request.args.to_dict())
    except ValidationError as err:
        raise invalid_request(err) from err
    entries = await timeline_entries(
        runtime().engine, incident.id, after=query.after, limit=min(query.limit, 1000)
    )
    timeline = Timeline(
        timeline=[TimelineEntryOut.model_validate(e, from_attributes=True) for e in entries]
    )
    return json_answer(timeline)
