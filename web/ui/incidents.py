"""Responder pages: the incident list (live), one incident with its actions, and the
"+ New Incident" form. Every change goes through web.incident_actions, the API's own
service functions, and so through the incident's workflow."""

import json
from typing import Any

from pydantic import ValidationError
from quart import flash, redirect, render_template, request, url_for
from sqlmodel import select

from models import User
from models.db import session_scope
from web.errors import ApiError
from web.incident_actions import add_entry, change_incident, open_incident
from web.incidents import STATUS_ALIASES, accessible_incident
from web.priorities import PRIORITIES
from web.queries import latest_alerts, timeline_entries
from web.runtime import runtime
from web.schemas import IncidentCreate, IncidentPatch
from web.ui import ui_blueprint
from web.ui.auth import page, principal
from web.ui.queries import IncidentFilters, filtered_incidents, visible_services
from workflows.messages import NoteIn, Status, Urgency

blueprint = ui_blueprint("ui_incidents", __name__)

URGENCIES = [u.value for u in Urgency]
STATUSES = [s.value for s in Status]
PRIORITY_IDS = [p.id for p in PRIORITIES]


def _filters() -> IncidentFilters:
    args = request.args
    status = STATUS_ALIASES.get(args.get("status", "").lower())
    urgency = args.get("urgency", "").upper()
    return IncidentFilters(
        status=status,
        urgency=urgency if urgency in URGENCIES else None,
        service_id=args.get("service") or None,
        search=(args.get("q") or "").strip()[:200] or None,
    )


async def _list_context() -> dict[str, Any]:
    who = principal()
    who.require_scope("incidents:read")
    filters = _filters()
    rows, counts = await filtered_incidents(runtime().engine, filters, who.service_ids)
    return {"rows": rows, "counts": counts, "filters": filters, "statuses": STATUSES}


@blueprint.get("/")
@page
async def home() -> Any:
    return redirect(url_for("ui_incidents.list_page"))


@blueprint.get("/incidents")
@page
async def list_page() -> Any:
    context = await _list_context()
    services = await visible_services(runtime().engine, principal().service_ids)
    return await render_template(
        "incidents.html", services=services, urgencies=URGENCIES, **context
    )


@blueprint.get("/incidents/rows")
@page
async def list_rows() -> Any:
    """The list's live part, fetched every few seconds with the page's filters."""
    return await render_template("_incident_rows.html", **await _list_context())


@blueprint.get("/incidents/<incident_id>")
@page
async def detail(incident_id: str) -> Any:
    who = principal()
    who.require_scope("incidents:read")
    incident, service = await accessible_incident(who, incident_id)
    engine = runtime().engine
    alerts = await latest_alerts(engine, incident.id)
    details = [
        json.dumps(a.payload.get("custom_details"), indent=2, sort_keys=True, default=str)
        for a in alerts
        if a.payload.get("custom_details")
    ]
    async with session_scope(engine) as session:
        users = list((await session.exec(select(User).order_by(User.name))).all())
    settings = runtime().settings
    temporal_url = (
        f"{settings.temporal_ui_base()}/namespaces/{settings.temporal_namespace}"
        f"/workflows/{incident.workflow_id}"
    )
    return await render_template(
        "incident.html",
        incident=incident,
        service=service,
        assignee=next((u for u in users if u.id == incident.assignee_id), None),
        users=users,
        details=details[-1:],
        timeline=await timeline_entries(engine, incident.id),
        can_act=who.has_scope("incidents:write") and incident.status != Status.RESOLVED.value,
        urgencies=URGENCIES,
        priorities=PRIORITY_IDS,
        temporal_url=temporal_url,
    )


ACTIONS = {"acknowledge", "resolve", "snooze", "change", "note", "update"}


@blueprint.post("/incidents/<incident_id>/<action>")
@page
async def act(incident_id: str, action: str) -> Any:
    """One button or small form of the detail page; errors come back as a message."""
    who = principal()
    who.require_scope("incidents:write")
    if action not in ACTIONS:
        return "unknown action", 404
    incident, _ = await accessible_incident(who, incident_id)
    form = await request.form
    try:
        message = await _apply(action, form, who, incident)
        await flash(message, "info")
    except ApiError as err:
        await flash(err.message, "error")
    except ValidationError as err:
        await flash("; ".join(str(e["msg"]) for e in err.errors()), "error")
    return redirect(url_for("ui_incidents.detail", incident_id=incident.id))


async def _apply(action: str, form: Any, who: Any, incident: Any) -> str:
    if action in ("note", "update"):
        body = (form.get("body") or "").strip()
        if not body:
            raise ApiError(400, "INVALID_REQUEST", "Write something first.", field="body")
        await add_entry(who, incident, NoteIn(kind=action, body=body[:10_000]))
        return "Note added." if action == "note" else "Update posted."
    patch: dict[str, Any] = {}
    if action == "acknowledge":
        patch["status"] = "ACKNOWLEDGED"
    elif action == "resolve":
        patch["status"] = "RESOLVED"
    elif action == "snooze":
        patch = {"status": "SNOOZED", "snoozeMinutes": form.get("minutes")}
    else:
        for field, key in (("urgency", "urgency"), ("priority", "priority")):
            if form.get(field):
                patch[key] = form[field]
        if "assignee" in form and (form["assignee"] or "") != (incident.assignee_id or ""):
            patch["assigneeId"] = form["assignee"] or None
        if form.get("priority") == "" and incident.priority:
            patch["priority"] = None
    await change_incident(who, incident, IncidentPatch.model_validate(patch))
    return {
        "acknowledge": "Acknowledged.",
        "resolve": "Resolved.",
        "snooze": "Snoozed.",
        "change": "Saved.",
    }[action]


@blueprint.get("/incidents/new")
@page
async def new_page() -> Any:
    return await _new_form({}, {})


async def _new_form(values: dict[str, str], errors: dict[str, str], status: int = 200) -> Any:
    services = await visible_services(runtime().engine, principal().service_ids)
    html = await render_template(
        "new_incident.html",
        services=services,
        urgencies=URGENCIES,
        priorities=PRIORITY_IDS,
        values=values,
        errors=errors,
        can_write=principal().has_scope("incidents:write"),
    )
    return html, status


@blueprint.post("/incidents/new")
@page
async def new_post() -> Any:
    who = principal()
    who.require_scope("incidents:write")
    form = await request.form
    values = {k: (form.get(k) or "").strip() for k in ("title", "service", "description")}
    values |= {"urgency": form.get("urgency") or "HIGH", "priority": form.get("priority") or ""}
    errors: dict[str, str] = {}
    if not values["title"]:
        errors["title"] = "Give the incident a title."
    if not values["service"]:
        errors["service"] = "Choose the affected service."
    if values["urgency"] not in URGENCIES:
        errors["urgency"] = "Choose an urgency."
    if values["priority"] and values["priority"] not in PRIORITY_IDS:
        errors["priority"] = "Choose a priority or none."
    if errors:
        return await _new_form(values, errors, 400)
    try:
        body = IncidentCreate(
            title=values["title"],
            service_id=values["service"],
            description=values["description"] or None,
            urgency=values["urgency"],
            priority=values["priority"] or None,  # type: ignore[arg-type]
        )
        incident, _ = await open_incident(who, body)
    except ValidationError as err:
        for e in err.errors():
            field = {"service_id": "service"}.get(str(e["loc"][0]), str(e["loc"][0]))
            errors[field] = str(e["msg"])
        return await _new_form(values, errors, 400)
    except ApiError as err:
        errors["service" if "SERVICE" in err.code else "title"] = err.message
        return await _new_form(values, errors, 400)
    await flash("Incident opened.", "info")
    return redirect(url_for("ui_incidents.detail", incident_id=incident.id))
