"""Schedule pages: the list, create and edit (through the store functions the API uses), one
schedule with a two-week timeline of its final shifts (in the schedule's own time zone, from
models.schedule_reads like /api/schedules/:id/shifts), and an override form calling the
API's add_override."""

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from quart import abort, flash, redirect, render_template, request, url_for
from sqlmodel import col, select

from models import Team, User
from models.db import session_scope
from models.errors import InvalidValue, UnknownReference
from models.schedule_reads import ShiftView, schedule_shifts
from models.schedules import Schedule
from models.schedules_store import (
    add_override,
    create_schedule,
    list_schedules,
    update_schedule,
)
from web.handoffs import replan_after_change
from web.runtime import runtime
from web.schedule_schemas import OverrideCreate
from web.ui import ui_blueprint
from web.ui.auth import page, principal
from web.ui.forms import REFUSALS, field_errors

blueprint = ui_blueprint("ui_schedules", __name__)

DAYS = 14


@blueprint.get("/schedules")
@page
async def list_page() -> Any:
    principal().require_scope("services:read")
    async with session_scope(runtime().engine) as session:
        schedules = list(await list_schedules(session, 500))
    return await render_template("schedules.html", schedules=schedules, can_write=_can_write())


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
        can_write=_can_write(),
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


# --- create and edit --------------------------------------------------------------------

COMMON_ZONES = (
    "UTC",
    "Europe/London",
    "Europe/Dublin",
    "Europe/Lisbon",
    "Europe/Paris",
    "Europe/Berlin",
    "Europe/Madrid",
    "Europe/Rome",
    "Europe/Amsterdam",
    "Europe/Stockholm",
    "Europe/Warsaw",
    "Europe/Athens",
    "Europe/Helsinki",
    "Europe/Moscow",
    "Africa/Johannesburg",
    "Asia/Dubai",
    "Asia/Kolkata",
    "Asia/Singapore",
    "Asia/Shanghai",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Pacific/Auckland",
    "America/Sao_Paulo",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
)
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_LAYER_KEY = re.compile(r"layers\.(\d+)\.")
_RESTRICTION_KEY = re.compile(r"layers\.(\d+)\.restrictions\.(\d+)\.")
_INDEX = re.compile(r"\d+")


def _writer() -> None:
    """Creating and editing schedules needs services:write and a key not limited to
    services, as in the API (a schedule may serve many services)."""
    who = principal()
    who.require_scope("services:write")
    if who.service_ids is not None:
        abort(403)


def _can_write() -> bool:
    who = principal()
    return who.has_scope("services:write") and who.service_ids is None


def _indices(pattern: re.Pattern[str], keys: Any) -> list[tuple[int, ...]]:
    found = {tuple(int(g) for g in m.groups()) for k in keys if (m := pattern.match(k))}
    return sorted(found)


def _restriction_values(form: Any, i: int) -> list[dict[str, Any]]:
    rows = []
    for li, j in _indices(_RESTRICTION_KEY, form.keys()):
        if li != i:
            continue
        prefix = f"layers.{i}.restrictions.{j}."
        row = {
            "days": [d for d in form.getlist(prefix + "days") if d],
            "start": (form.get(prefix + "start") or "").strip(),
            "end": (form.get(prefix + "end") or "").strip(),
        }
        if row["days"] or row["start"] or row["end"]:
            rows.append(row)
    return rows


def _form_values(form: Any) -> dict[str, Any]:
    """The submitted form as the template's values; empty layers and restriction rows (the
    always-rendered extra ones) are dropped, so layer positions match the store's errors."""
    layers = []
    for (i,) in _indices(_LAYER_KEY, form.keys()):
        prefix = f"layers.{i}."

        def get(name: str, prefix: str = prefix) -> str:
            return (form.get(prefix + name) or "").strip()

        layer = {
            "name": get("name"),
            "start": get("start"),
            "end": get("end"),
            "users": get("users"),
            "kind": get("shift.kind") or "days",
            "length": get("shift.length"),
            "handoff_weekday": get("shift.handoff_weekday"),
            "handoff_time": get("shift.handoff_time"),
            "restrictions": _restriction_values(form, i),
        }
        if layer["start"] or layer["end"] or layer["users"] or layer["restrictions"]:
            layers.append(layer)
    return {
        "name": (form.get("name") or "").strip(),
        "description": (form.get("description") or "").strip(),
        "time_zone": (form.get("time_zone") or "").strip(),
        "team_id": (form.get("team_id") or "").strip(),
        "handoff_notifications": bool(form.get("handoff_notifications")),
        "layers": layers,
    }


def _schedule_values(schedule: Schedule) -> dict[str, Any]:
    """A stored schedule (camelCase layers) as the form's values."""
    layers = []
    for stored in schedule.layers:
        shift = stored.get("shift", {})
        kind = shift.get("kind", "days")
        layers.append(
            {
                "name": stored.get("name") or "",
                "start": (stored.get("start") or "")[:16],
                "end": (stored.get("end") or "")[:16],
                "users": ", ".join(stored.get("users", [])),
                "kind": kind,
                "length": str(shift.get(kind, "")) if kind in ("hours", "days") else "",
                "handoff_weekday": str(shift.get("handoffWeekday", "")),
                "handoff_time": shift.get("handoffTime", ""),
                "restrictions": [
                    {
                        "days": [str(d) for d in (r.get("days") or [])],
                        "start": r.get("start", ""),
                        "end": r.get("end", ""),
                    }
                    for r in stored.get("restrictions") or []
                ],
            }
        )
    return {
        "name": schedule.name,
        "description": schedule.description or "",
        "time_zone": schedule.time_zone,
        "team_id": schedule.team_id or "",
        "handoff_notifications": schedule.handoff_notifications,
        "layers": layers,
    }


def _layer_input(layer: dict[str, Any]) -> dict[str, Any]:
    """One form layer as the API's layer object; the store's LayerSpec judges it."""
    kind = layer["kind"]
    shift: dict[str, Any] = {"kind": kind}
    if kind in ("hours", "days"):
        shift[kind] = layer["length"]
    else:
        shift["handoff_weekday"] = layer["handoff_weekday"]
        shift["handoff_time"] = layer["handoff_time"]
    out: dict[str, Any] = {
        "start": layer["start"],
        "users": [u.strip() for u in layer["users"].split(",") if u.strip()],
        "shift": shift,
    }
    if layer["name"]:
        out["name"] = layer["name"]
    if layer["end"]:
        out["end"] = layer["end"]
    if layer["restrictions"]:
        out["restrictions"] = [
            {"days": [int(d) for d in r["days"] if d.isdigit()] or None}
            | {"start": r["start"], "end": r["end"]}
            for r in layer["restrictions"]
        ]
    return out


def form_field(path: str) -> str:
    """The input an error's field path belongs to: ``layers.0.shift.hours`` is the layer's
    length input, ``layers.0.users.1`` its users input, ``layers.0.shift.weekly.x`` its x."""
    parts = path.split(".")
    if len(parts) >= 3 and parts[0] == "layers" and parts[2] == "shift":
        rest = [p for p in parts[3:] if p not in ("hours", "days", "weekly", "kind")]
        if parts[3:4] in (["hours"], ["days"]) and not rest:
            return ".".join([*parts[:3], "length"])
        return ".".join(parts[:3] + (rest[:1] or ["kind"]))
    if len(parts) >= 4 and parts[0] == "layers" and parts[2] == "users":
        return ".".join(parts[:3])
    if len(parts) >= 6 and parts[2] == "restrictions" and parts[4] == "days":
        return ".".join(parts[:5])
    if len(parts) > 1 and parts[0] == "layers" and not _INDEX.fullmatch(parts[1]):
        return "layers"
    return path


async def _users_by_id() -> dict[str, str]:
    async with session_scope(runtime().engine) as session:
        users = (await session.exec(select(User).order_by(col(User.name)))).all()
    return {u.id: u.name for u in users}


async def _form(
    schedule: dict[str, str] | None,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
) -> Any:
    async with session_scope(runtime().engine) as session:
        teams = list((await session.exec(select(Team).order_by(col(Team.name)))).all())
    html = await render_template(
        "schedule_form.html",
        schedule=schedule,
        values=values,
        errors=errors or {},
        teams=teams,
        users=await _users_by_id(),
        zones=COMMON_ZONES,
        weekdays=WEEKDAYS,
    )
    return html, 400 if errors else 200


def _changes(values: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": values["name"],
        "description": values["description"] or None,
        "time_zone": values["time_zone"],
        "team_id": values["team_id"] or None,
        "handoff_notifications": values["handoff_notifications"],
        "layers": [_layer_input(layer) for layer in values["layers"]],
    }


@blueprint.get("/schedules/new")
@page
async def new_page() -> Any:
    _writer()
    return await _form(None, {"time_zone": "UTC", "layers": []})


@blueprint.post("/schedules/new")
@page
async def new_post() -> Any:
    _writer()
    values = _form_values(await request.form)
    changes = _changes(values)
    try:
        async with session_scope(runtime().engine) as session:
            schedule = await create_schedule(
                session,
                changes.pop("name"),
                changes.pop("time_zone"),
                changes.pop("layers"),
                **changes,
            )
            schedule_id, handoffs = schedule.id, schedule.handoff_notifications
    except REFUSALS as err:
        return await _form(None, values, {form_field(err.field): str(err)})
    await replan_after_change(schedule_id, handoffs)
    await flash("Schedule created.", "info")
    return redirect(url_for("ui_schedules.detail", schedule_id=schedule_id))


@blueprint.get("/schedules/<schedule_id>/edit")
@page
async def edit_page(schedule_id: str) -> Any:
    _writer()
    async with session_scope(runtime().engine) as session:
        schedule = await session.get(Schedule, schedule_id)
    if schedule is None:
        abort(404)
    shown = {"id": schedule.id, "name": schedule.name}
    return await _form(shown, _schedule_values(schedule))


@blueprint.post("/schedules/<schedule_id>/edit")
@page
async def edit_post(schedule_id: str) -> Any:
    _writer()
    values = _form_values(await request.form)
    try:
        async with session_scope(runtime().engine) as session:
            schedule = await session.get(Schedule, schedule_id)
            if schedule is None:
                abort(404)
            shown = {"id": schedule.id, "name": schedule.name}
            await update_schedule(session, schedule, _changes(values))
            handoffs = schedule.handoff_notifications
    except REFUSALS as err:
        return await _form(shown, values, {form_field(err.field): str(err)})
    await replan_after_change(schedule_id, handoffs)
    await flash("Schedule saved.", "info")
    return redirect(url_for("ui_schedules.detail", schedule_id=schedule_id))
