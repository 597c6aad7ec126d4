"""``/api/schedules``: on-call schedules, their overrides, who is on call and the rendered
shifts (scope services:read; services:write for changes).

A schedule may be the target of many services' escalation policies, so changing one needs a
key not limited to services, as for policies. Every change tells the schedule's handoff
workflow (web/handoffs.py) after it is committed. The rules of the computation are in
docs/schedules.md.
"""

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from quart import Blueprint, request
from quart_schema import document_querystring, document_request, document_response, tag
from sqlmodel.ext.asyncio.session import AsyncSession

from models.db import session_scope
from models.errors import InUse
from models.schedule_reads import ShiftView, on_call, schedule_shifts
from models.schedules import Schedule, ScheduleOverride
from models.schedules_store import (
    add_override,
    create_schedule,
    delete_override,
    delete_schedule,
    list_overrides,
    list_schedules,
    update_schedule,
)
from models.shifts import MAX_WINDOW
from web.bodies import parse_body
from web.errors import ApiError, error_responses, invalid_request
from web.handoffs import replan_after_change
from web.management import (
    api_principal,
    not_found,
    refusals_as_api_errors,
    unrestricted_principal,
)
from web.management_schemas import Deleted
from web.runtime import runtime
from web.schedule_schemas import (
    OnCallOut,
    OnCallQuery,
    OverrideCreate,
    OverrideList,
    OverrideOut,
    OverrideQuery,
    Person,
    ScheduleCreate,
    ScheduleList,
    ScheduleListQuery,
    ScheduleOut,
    SchedulePatch,
    ShiftList,
    ShiftOut,
    ShiftQuery,
    ShiftRef,
)
from web.text import storable

blueprint = Blueprint("schedules", __name__)

MAX_LIMIT = 500
DEFAULT_WINDOW = timedelta(days=14)
Q = TypeVar("Q", bound=BaseModel)


# --- schedules --------------------------------------------------------------------------


@blueprint.get("/api/schedules")
@tag(["schedules"])
@document_querystring(ScheduleListQuery)
@document_response(ScheduleList, 200)
@error_responses(400, 401, 403)
async def list_route() -> dict[str, Any]:
    """Schedules, oldest first (scope services:read). ``limit`` defaults to 100 and is capped
    at 500; ``cursor`` is the ``nextCursor`` of the previous page."""
    await api_principal("services:read")
    query = _query(ScheduleListQuery)
    after = _decode_cursor(query.cursor) if query.cursor else None
    limit = min(query.limit, MAX_LIMIT)
    async with session_scope(runtime().engine) as session:
        schedules = await list_schedules(session, limit, after)
    next_cursor = _encode_cursor(schedules[-1]) if len(schedules) == limit else None
    page = ScheduleList(schedules=[_out(s) for s in schedules], next_cursor=next_cursor)
    return page.model_dump(mode="json", by_alias=True)


@blueprint.post("/api/schedules")
@tag(["schedules"])
@document_request(ScheduleCreate)
@document_response(ScheduleOut, 201)
@error_responses(400, 401, 403, 409)
async def post_route() -> tuple[dict[str, Any], int]:
    """Create a schedule (scope services:write). A bad zone, layer or unknown user is a 400
    naming the field (``timeZone``, ``layers.0.users.1``); a taken name is 409 CONFLICT."""
    await unrestricted_principal("services:write")
    body = await parse_body(ScheduleCreate)
    with refusals_as_api_errors():
        async with session_scope(runtime().engine) as session:
            schedule = await create_schedule(
                session,
                body.name,
                body.time_zone,
                body.layers,
                description=body.description,
                team_id=body.team_id,
                handoff_notifications=body.handoff_notifications,
            )
            out = _out(schedule).model_dump(mode="json", by_alias=True)
            handoffs = schedule.handoff_notifications
    await replan_after_change(schedule.id, handoffs)
    return out, 201


@blueprint.get("/api/schedules/<schedule_id>")
@tag(["schedules"])
@document_response(ScheduleOut, 200)
@error_responses(401, 403, 404)
async def get_route(schedule_id: str) -> dict[str, Any]:
    """One schedule (scope services:read)."""
    await api_principal("services:read")
    async with session_scope(runtime().engine) as session:
        schedule = await _get_schedule(session, schedule_id)
    return _out(schedule).model_dump(mode="json", by_alias=True)


@blueprint.patch("/api/schedules/<schedule_id>")
@tag(["schedules"])
@document_request(SchedulePatch)
@document_response(ScheduleOut, 200)
@error_responses(400, 401, 403, 404, 409)
async def patch_route(schedule_id: str) -> dict[str, Any]:
    """Change a schedule; ``layers``, when given, replaces every layer; ``null`` clears only
    ``description`` and ``teamId`` (scope services:write)."""
    await unrestricted_principal("services:write")
    body = await parse_body(SchedulePatch)
    changes = body.model_dump(exclude_unset=True, exclude={"layers"})
    if body.layers is not None:
        changes["layers"] = body.layers
    with refusals_as_api_errors():
        async with session_scope(runtime().engine) as session:
            schedule = await _get_schedule(session, schedule_id)
            await update_schedule(session, schedule, changes)
            out = _out(schedule).model_dump(mode="json", by_alias=True)
            handoffs = schedule.handoff_notifications
    await replan_after_change(schedule_id, handoffs)
    return out


@blueprint.delete("/api/schedules/<schedule_id>")
@tag(["schedules"])
@document_response(Deleted, 200)
@error_responses(401, 403, 404, 409)
async def delete_route(schedule_id: str) -> dict[str, Any]:
    """Delete a schedule with its overrides and calendar feeds (scope services:write).
    409 SCHEDULE_IN_USE while an escalation policy step targets it."""
    await unrestricted_principal("services:write")
    try:
        async with session_scope(runtime().engine) as session:
            await delete_schedule(session, await _get_schedule(session, schedule_id))
    except InUse as err:
        raise ApiError(409, "SCHEDULE_IN_USE", str(err)) from err
    return Deleted(id=schedule_id).model_dump(mode="json", by_alias=True)


# --- overrides --------------------------------------------------------------------------


@blueprint.post("/api/schedules/<schedule_id>/overrides")
@tag(["schedules"])
@document_request(OverrideCreate)
@document_response(OverrideOut, 201)
@error_responses(400, 401, 403, 404)
async def post_override_route(schedule_id: str) -> tuple[dict[str, Any], int]:
    """``userId`` is on call for [start, end) (scope services:write); with
    ``replacesUserId`` only where the layers have that user. Overlapping overrides: the
    latest created wins (docs/schedules.md, Precedence). An interval wholly outside the
    span of the schedule's layers is a 400 naming ``start`` or ``end``."""
    await unrestricted_principal("services:write")
    body = await parse_body(OverrideCreate)
    with refusals_as_api_errors():
        async with session_scope(runtime().engine) as session:
            schedule = await _get_schedule(session, schedule_id)
            override = await add_override(
                session, schedule, body.user_id, body.start, body.end, body.replaces_user_id
            )
            out = _override_out(override)
            handoffs = schedule.handoff_notifications
    await replan_after_change(schedule_id, handoffs)
    return out, 201


@blueprint.get("/api/schedules/<schedule_id>/overrides")
@tag(["schedules"])
@document_querystring(OverrideQuery)
@document_response(OverrideList, 200)
@error_responses(400, 401, 403, 404)
async def list_overrides_route(schedule_id: str) -> dict[str, Any]:
    """The overrides touching [from, to) by start (scope services:read); ``from`` defaults
    to now, ``to`` to no end."""
    await api_principal("services:read")
    query = _query(OverrideQuery)
    start = query.window_start or datetime.now(UTC)
    async with session_scope(runtime().engine) as session:
        await _get_schedule(session, schedule_id)
        rows = await list_overrides(session, schedule_id, start, query.window_end)
    return {"overrides": [_override_out(o) for o in rows]}


@blueprint.delete("/api/schedules/<schedule_id>/overrides/<override_id>")
@tag(["schedules"])
@document_response(Deleted, 200)
@error_responses(401, 403, 404)
async def delete_override_route(schedule_id: str, override_id: str) -> dict[str, Any]:
    """Remove an override; the layers decide again (scope services:write)."""
    await unrestricted_principal("services:write")
    async with session_scope(runtime().engine) as session:
        schedule = await _get_schedule(session, schedule_id)
        if not await delete_override(session, schedule_id, override_id):
            raise not_found("Override")
        handoffs = schedule.handoff_notifications
    await replan_after_change(schedule_id, handoffs)
    return Deleted(id=override_id).model_dump(mode="json", by_alias=True)


# --- who is on call, shifts -------------------------------------------------------------


@blueprint.get("/api/schedules/<schedule_id>/oncall")
@tag(["schedules"])
@document_querystring(OnCallQuery)
@document_response(OnCallOut, 200)
@error_responses(400, 401, 403, 404)
async def oncall_route(schedule_id: str) -> dict[str, Any]:
    """Who is on call at ``at`` (default now; scope services:read): ``users`` is empty when
    nobody is, and ``shift`` the final shift containing ``at``."""
    await api_principal("services:read")
    at = _query(OnCallQuery).at or datetime.now(UTC)
    async with session_scope(runtime().engine) as session:
        found = await on_call(session, schedule_id, at)
    if found is None:
        raise not_found("Schedule")
    _, view = found
    out = OnCallOut(
        at=at,
        users=[] if view is None else [_person(view)],
        shift=None
        if view is None
        else ShiftRef(
            start=view.start, end=view.end, layer=view.layer, override_id=view.override_id
        ),
    )
    return out.model_dump(mode="json", by_alias=True)


@blueprint.get("/api/schedules/<schedule_id>/shifts")
@tag(["schedules"])
@document_querystring(ShiftQuery)
@document_response(ShiftList, 200)
@error_responses(400, 401, 403, 404)
async def shifts_route(schedule_id: str) -> dict[str, Any]:
    """The final shifts in [from, to) after layers, restrictions and overrides (scope
    services:read); ``from`` defaults to now, ``to`` to 14 days later, at most 90 days.
    With ``layer=N`` one layer's own shifts instead."""
    await api_principal("services:read")
    query = _query(ShiftQuery)
    start = query.window_start or datetime.now(UTC)
    end = query.window_end or start + DEFAULT_WINDOW
    if end <= start:
        raise _bad_query("to", "to must be after from")
    if end - start > MAX_WINDOW:
        raise _bad_query("to", f"the window is at most {MAX_WINDOW.days} days")
    async with session_scope(runtime().engine) as session:
        schedule = await _get_schedule(session, schedule_id)
        if query.layer is not None and query.layer >= len(schedule.layers):
            raise _bad_query("layer", f"the schedule has {len(schedule.layers)} layers")
        try:
            found = await schedule_shifts(session, schedule_id, start, end, layer=query.layer)
        except ValueError as err:  # a default `to` past the year 2999
            raise _bad_query("to", str(err)) from err
    if found is None:
        raise not_found("Schedule")
    _, views = found
    out = ShiftList(
        schedule_id=schedule_id,
        time_zone=schedule.time_zone,
        window_start=start,
        window_end=end,
        shifts=[_shift_out(v) for v in views],
    )
    return out.model_dump(mode="json", by_alias=True)


# --- helpers ----------------------------------------------------------------------------


def _query(model: type[Q]) -> Q:
    try:
        return model.model_validate(request.args.to_dict())
    except ValidationError as err:
        raise _as_query_error(invalid_request(err)) from err


def _as_query_error(err: ApiError) -> ApiError:
    err.message = err.message.replace("Invalid request body", "Invalid query", 1)
    return err


def _bad_query(field: str, message: str) -> ApiError:
    return ApiError(400, "INVALID_REQUEST", f"Invalid query: {field}: {message}", field=field)


async def _get_schedule(session: AsyncSession, schedule_id: str) -> Schedule:
    schedule = await session.get(Schedule, schedule_id)
    if schedule is None:
        raise not_found("Schedule")
    return schedule


def _out(schedule: Schedule) -> ScheduleOut:
    return ScheduleOut.model_validate(schedule, from_attributes=True)


def _override_out(override: ScheduleOverride) -> dict[str, Any]:
    out = OverrideOut.model_validate(override, from_attributes=True)
    return out.model_dump(mode="json", by_alias=True)


def _person(view: ShiftView) -> Person:
    return Person(id=view.user_id, name=view.user_name, email=view.user_email)


def _shift_out(view: ShiftView) -> ShiftOut:
    return ShiftOut(
        user_id=view.user_id,
        user_name=view.user_name,
        start=view.start,
        end=view.end,
        layer=view.layer,
        override_id=view.override_id,
    )


def _encode_cursor(schedule: Schedule) -> str:
    raw = json.dumps([schedule.created_at.isoformat(), schedule.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, schedule_id = json.loads(raw)
        if not isinstance(schedule_id, str) or not storable(schedule_id):
            raise ValueError("invalid cursor")
        after = datetime.fromisoformat(created_at)
        if after.tzinfo is None:
            raise ValueError("invalid cursor")
        return after, schedule_id
    except Exception as err:
        raise _bad_query("cursor", "invalid cursor") from err
