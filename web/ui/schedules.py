"""Schedule pages: the list, one schedule with a two-week timeline of its final shifts (in
the schedule's own time zone, from models.schedule_reads like /api/schedules/:id/shifts),
and an override form calling the API's add_override."""

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from quart import abort, flash, redirect, render_template, request, url_for
from sqlmodel import col, select

from models import User
from models.db import session_scope
from models.errors import InvalidValue, UnknownReference
from models.schedule_reads import ShiftView, schedule_shifts
from models.schedules import Schedule
from models.schedules_store import add_override, list_schedules
from web.handoffs import replan_after_change
from web.runtime import runtime
from web.schedule_schemas import OverrideCreate
from web.ui import ui_blueprint
from web.ui.auth import page, principal
from web.ui.services import field_errors

blueprint = ui_blueprint("ui_schedules", __name__)

DAYS = 14


@blueprint.get("/schedules")
@page
async def list_page() -> Any:
    principal().require_scope("services:read")
    async with session_scope(runtime().engine) as session:
        schedules = list(await list_schedules(session, 500))
    return await render_template("schedules.html", schedules=schedules)


def timeline(shifts: list[ShiftView], zone: ZoneInfo, first: datetime) -> list[dict[str, Any]]:
    """Per local day, the shifts touching it with local start and end times."""
    days = []
    for n in range(DAYS):
        start = first + timedelta(days=n)
        end = start + timedelta(days=1)
        rows = [
            {
                "name": s.user_name or "(deleted user)",
                "from": max(s.start.astimezone(zone), start).strftime("%H:%M"),
                "to": "24:00"
                if s.end.astimezone(zone) >= end
                else s.end.astimezone(zone).strftime("%H:%M"),
                "override": s.override_id is not None,
            }
            for s in shifts
            if s.start < end and s.end > start
        ]
        days.append({"date": start, "shifts": rows})
    return days


async def _detail(
    schedule_id: str, errors: dict[str, str] | None = None, values: Any = None
) -> Any:
    principal().require_scope("services:read")
    async with session_scope(runtime().engine) as session:
        schedule = await session.get(Schedule, schedule_id)
        if schedule is None:
            abort(404)
        zone = ZoneInfo(schedule.time_zone)
        first = datetime.now(zone).replace(hour=0, minute=0, second=0, microsecond=0)
        found = await schedule_shifts(session, schedule_id, first, first + timedelta(days=DAYS))
        users = list((await session.exec(select(User).order_by(col(User.name)))).all())
    shifts = found[1] if found else []
    html = await render_template(
        "schedule.html",
        schedule=schedule,
        days=timeline(shifts, zone, first),
        users=users,
        errors=errors or {},
        values=values or {},
        can_write=principal().has_scope("services:write") and principal().service_ids is None,
    )
    return html, 400 if errors else 200


@blueprint.get("/schedules/<schedule_id>")
@page
async def detail(schedule_id: str) -> Any:
    return await _detail(schedule_id)


@blueprint.post("/schedules/<schedule_id>/overrides")
@page
async def override_post(schedule_id: str) -> Any:
    """Local date-times in the schedule's zone; the API's model and add_override decide."""
    who = principal()
    who.require_scope("services:write")
    if who.service_ids is not None:
        abort(403)
    form = await request.form
    values = {k: (form.get(k) or "").strip() for k in ("user_id", "start", "end")}
    async with session_scope(runtime().engine) as session:
        schedule = await session.get(Schedule, schedule_id)
        if schedule is None:
            abort(404)
        zone = ZoneInfo(schedule.time_zone)
        try:
            body = OverrideCreate.model_validate(
                {
                    "userId": values["user_id"],
                    "start": _aware(values["start"], zone),
                    "end": _aware(values["end"], zone),
                }
            )
            await add_override(session, schedule, body.user_id, body.start, body.end)
        except ValidationError as err:
            return await _detail(schedule_id, field_errors(err), values)
        except (InvalidValue, UnknownReference) as err:
            return await _detail(schedule_id, {err.field: str(err)}, values)
        handoffs = schedule.handoff_notifications
    await replan_after_change(schedule_id, handoffs)
    await flash("Override added.", "info")
    return redirect(url_for("ui_schedules.detail", schedule_id=schedule_id))


def _aware(local: str, zone: ZoneInfo) -> str:
    """A datetime-local value read in the schedule's zone, as an ISO instant."""
    try:
        return datetime.fromisoformat(local).replace(tzinfo=zone).isoformat()
    except ValueError:
        return local
