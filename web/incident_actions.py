"""Incidents API, write half (seed 003) and incident updates (seed 004).

Every change goes through the incident's workflow as an update; the response is read back
from the read side, which the workflow has written before answering.
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from quart import Blueprint
from quart_schema import document_request, document_response, tag

from models import Incident, Service, User
from models import TimelineEntry as TimelineRow
from models.db import session_scope
from web.auth import Principal
from web.bodies import parse_body
from web.commands import CommandRejected, IncidentClosed
from web.errors import ApiError, error_responses
from web.incidents import accessible_incident, incident_out, principal_with
from web.queries import get_incident, timeline_entries
from web.runtime import runtime
from web.schemas import (
    IncidentCreate,
    IncidentOut,
    IncidentPatch,
    NoteCreate,
    NoteList,
    NoteOut,
    UpdateCreate,
    UpdateEnvelope,
    UpdateList,
    UpdateOut,
)
from workflows.messages import ChangeIn, ManualOpenIn, NoteIn, Status, TimelineEntry, Urgency

blueprint = Blueprint("incident_actions", __name__)

# What PATCH accepts; SUPPRESSED is set only by suppression rules.
PATCHABLE_STATUSES = {s.value for s in Status} - {Status.SUPPRESSED.value}


def _enum(value: str, allowed: set[str], field: str) -> str:
    upper = value.upper()
    if upper not in allowed:
        raise ApiError(
            400,
            "INVALID_REQUEST",
            f"Invalid request body: {field} must be one of {', '.join(sorted(allowed))}",
            field=field,
        )
    return upper


@blueprint.post("/api/incidents")
@tag(["incidents"])
@document_request(IncidentCreate)
@document_response(IncidentOut, 201)
@error_responses(400, 403, 404)
async def create_incident() -> tuple[dict[str, Any], int]:
    """Open an incident by hand (scope incidents:write); it escalates like a triggered one."""
    principal = await principal_with("incidents:write")
    body = await parse_body(IncidentCreate)
    row, service = await open_incident(principal, body)
    return incident_out(row, service).model_dump(mode="json", by_alias=True), 201


async def open_incident(principal: Principal, body: IncidentCreate) -> tuple[Incident, Service]:
    """Open an incident by hand through its workflow (shared by the API and the UI)."""
    principal.require_scope("incidents:write")
    urgency = Urgency(_enum(body.urgency, {u.value for u in Urgency}, "urgency"))
    if not principal.can_access(body.service_id):
        raise ApiError(403, "SERVICE_ACCESS_DENIED", "API key has no access to this service")
    rt = runtime()
    async with session_scope(rt.engine) as session:
        service = await session.get(Service, body.service_id)
    if service is None:
        raise ApiError(404, "SERVICE_NOT_FOUND", "Service not found")
    request = ManualOpenIn(
        title=body.title,
        description=body.description,
        urgency=urgency,
        priority=body.priority,
        opened_at=datetime.now(UTC),
        actor=principal.actor,
    )
    outcome = await rt.commands.open_manual(service.id, request)
    row = await rt.waiter.wait(outcome.incident_id, rt.settings.read_wait_seconds)
    if row is None:
        raise ApiError(503, "NOT_YET_VISIBLE", f"Incident {outcome.incident_id} opened; retry GET")
    return row, service


@blueprint.patch("/api/incidents/<incident_id>")
@tag(["incidents"])
@document_request(IncidentPatch)
@document_response(IncidentOut, 200)
@error_responses(400, 404)
async def patch_incident(incident_id: str) -> dict[str, Any]:
    """Change status (OPEN, ACKNOWLEDGED, RESOLVED, SNOOZED), urgency, priority or assignee
    (scope incidents:write). RESOLVED is final (400 INVALID_TRANSITION)."""
    principal = await principal_with("incidents:write")
    incident, _ = await accessible_incident(principal, incident_id)
    body = await parse_body(IncidentPatch)
    found = await change_incident(principal, incident, body)
    return incident_out(*found).model_dump(mode="json", by_alias=True)


async def change_incident(
    principal: Principal, incident: Incident, body: IncidentPatch
) -> tuple[Incident, Service]:
    """Apply a change through the incident's workflow (shared by the API and the UI)."""
    principal.require_scope("incidents:write")
    change = await _change_from(body, principal)
    try:
        await runtime().commands.change(incident.workflow_id, incident.id, change)
    except IncidentClosed as err:
        raise ApiError(
            400, "INVALID_TRANSITION", "incident is resolved; RESOLVED is final"
        ) from err
    except CommandRejected as err:
        raise _rejection(err) from err
    found = await get_incident(runtime().engine, incident.id)
    assert found is not None
    return found


async def _change_from(body: IncidentPatch, principal: Principal) -> ChangeIn:
    fields = body.model_fields_set
    if not fields:
        raise ApiError(400, "INVALID_REQUEST", "Invalid request body: nothing to update")
    change = ChangeIn(actor=principal.actor)
    if body.status is not None:
        change.status = Status(_enum(body.status, PATCHABLE_STATUSES, "status"))
    snooze_fields = fields & {"snooze_minutes", "snoozed_until"}
    if change.status == Status.SNOOZED:
        change.snoozed_until = _snooze_until(body, snooze_fields)
    elif snooze_fields:
        raise ApiError(
            400,
            "INVALID_REQUEST",
            "Invalid request body: snoozeMinutes/snoozedUntil need status SNOOZED",
            field="status",
        )
    if body.urgency is not None:
        change.urgency = Urgency(_enum(body.urgency, {u.value for u in Urgency}, "urgency"))
    if "priority" in fields:
        change.priority, change.priority_set = body.priority, True
    if "assignee_id" in fields:
        change.assignee_id = body.assignee_id or None
        change.assignee_set = True
        if change.assignee_id is not None:
            await _require_user(change.assignee_id)
    if (
        change.status is None
        and change.urgency is None
        and not (change.priority_set or change.assignee_set)
    ):
        raise ApiError(400, "INVALID_REQUEST", "Invalid request body: nothing to update")
    return change


def _snooze_until(body: IncidentPatch, given: set[str]) -> datetime:
    if len(given) != 1:
        raise ApiError(
            400,
            "INVALID_REQUEST",
            "Invalid request body: SNOOZED needs exactly one of snoozeMinutes, snoozedUntil",
            field="snoozeMinutes",
        )
    now = datetime.now(UTC)
    if body.snooze_minutes is not None:
        return now + timedelta(minutes=body.snooze_minutes)
    until = body.snoozed_until
    if until is None or until.tzinfo is None or until <= now:
        raise ApiError(
            400,
            "INVALID_REQUEST",
            "Invalid request body: snoozedUntil must be a future ISO-8601 time with a zone",
            field="snoozedUntil",
        )
    if until - now > timedelta(minutes=10080):
        raise ApiError(
            400,
            "INVALID_REQUEST",
            "Invalid request body: snoozedUntil is at most 7 days ahead",
            field="snoozedUntil",
        )
    return until


async def _require_user(user_id: str) -> None:
    """Assignees must be known users (400 otherwise)."""
    async with session_scope(runtime().engine) as session:
        user = await session.get(User, user_id)
    if user is None:
        raise ApiError(400, "INVALID_REQUEST", f"Unknown user {user_id}", field="assigneeId")


def _rejection(err: CommandRejected) -> ApiError:
    status = 404 if err.code == "NOT_FOUND" else 400
    return ApiError(status, err.code, err.message)


async def _add_to_timeline(incident_id: str, note: NoteIn) -> tuple[Incident, TimelineEntry]:
    principal = await principal_with("incidents:write")
    incident, _ = await accessible_incident(principal, incident_id)
    return incident, await add_entry(principal, incident, note)


async def add_entry(principal: Principal, incident: Incident, note: NoteIn) -> TimelineEntry:
    """Add a note or update through the workflow (shared by the API and the UI)."""
    principal.require_scope("incidents:write")
    note.actor = principal.actor
    try:
        return await runtime().commands.note(incident.workflow_id, incident.id, note)
    except IncidentClosed as err:
        raise ApiError(
            400, "INVALID_TRANSITION", "incident is resolved; RESOLVED is final"
        ) from err
    except CommandRejected as err:
        raise _rejection(err) from err


@blueprint.post("/api/incidents/<incident_id>/notes")
@tag(["incidents"])
@document_request(NoteCreate)
@document_response(NoteOut, 201)
async def add_note(incident_id: str) -> tuple[dict[str, Any], int]:
    """Add a note to the incident's timeline (scope incidents:write)."""
    body = await parse_body(NoteCreate)
    _, entry = await _add_to_timeline(incident_id, NoteIn(kind="note", body=body.body))
    return _note_out(entry).model_dump(mode="json", by_alias=True), 201


@blueprint.get("/api/incidents/<incident_id>/notes")
@tag(["incidents"])
@document_response(NoteList, 200)
async def list_notes(incident_id: str) -> dict[str, Any]:
    """The incident's notes, oldest first (scope incidents:read)."""
    _, entries = await _entries_of(incident_id, "note")
    return NoteList(notes=[_note_out(e) for e in entries]).model_dump(mode="json", by_alias=True)


async def _entries_of(
    incident_id: str, kind: str
) -> tuple[Incident, Sequence[TimelineEntry | TimelineRow]]:
    principal = await principal_with("incidents:read")
    incident, _ = await accessible_incident(principal, incident_id)
    return incident, await timeline_entries(runtime().engine, incident.id, kinds=(kind,))


def _note_out(entry: TimelineEntry | TimelineRow) -> NoteOut:
    return NoteOut(id=entry.seq, body=entry.message, actor=entry.actor, created_at=entry.at)


def _update_out(incident_id: str, entry: TimelineEntry | TimelineRow) -> UpdateOut:
    return UpdateOut(
        id=entry.seq,
        incident_id=incident_id,
        body=entry.message,
        notify_subscribers=bool(entry.data.get("notifySubscribers")),
        created_at=entry.at,
    )


@blueprint.post("/api/incidents/<incident_id>/updates")
@tag(["incidents"])
@document_request(UpdateCreate)
@document_response(UpdateEnvelope, 201)
async def add_update(incident_id: str) -> tuple[dict[str, Any], int]:
    """Post a status update (seed 004), stored as a timeline entry of kind update."""
    body = await parse_body(UpdateCreate)
    note = NoteIn(kind="update", body=body.body, notify_subscribers=body.notify_subscribers)
    incident, entry = await _add_to_timeline(incident_id, note)
    update = _update_out(incident.id, entry)
    return UpdateEnvelope(data=update).model_dump(mode="json", by_alias=True), 201


@blueprint.get("/api/incidents/<incident_id>/updates")
@tag(["incidents"])
@document_response(UpdateList, 200)
async def list_updates(incident_id: str) -> dict[str, Any]:
    """The incident's updates, oldest first (scope incidents:read)."""
    incident, entries = await _entries_of(incident_id, "update")
    updates = [_update_out(incident.id, e) for e in entries]
    return UpdateList(data=updates).model_dump(mode="json", by_alias=True)
