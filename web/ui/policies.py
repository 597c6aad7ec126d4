"""Escalation policy pages: list, create, edit (a step editor), delete.

The form is validated by the API's own request models (EscalationPolicyCreate/Patch) and
saved by the functions the API calls (models.escalation_policies), so there is one set of
rules. Inputs are named ``steps-<i>-delay_minutes``, ``steps-<i>-targets-<j>-type|id`` and
``steps-<i>-channels``: the same dash-joined path names a field's error, so an error sits
next to its input. Blank steps and target rows (the always-rendered spare ones that make
the form work without JavaScript) are dropped before validation."""

import re
from typing import Any

from pydantic import ValidationError
from quart import abort, flash, redirect, render_template, request, url_for
from sqlmodel import col, select

from models import EscalationPolicy, Service, Team, User
from models.db import session_scope
from models.errors import Conflict, InUse, InvalidValue, UnknownReference
from models.escalation_policies import (
    create_policy,
    delete_policy,
    list_policies,
    policy_service_ids,
    policy_steps,
    update_policy,
)
from models.schedules import Schedule
from web.auth import Principal
from web.escalation_policies import step_specs
from web.management_schemas import EscalationPolicyCreate, EscalationPolicyPatch
from web.runtime import runtime
from web.ui import ui_blueprint
from web.ui.auth import page, principal
from web.ui.forms import REFUSALS, nested_field_errors

blueprint = ui_blueprint("ui_policies", __name__)

CHANNELS = ("slack", "email", "webhook")
TARGET_TYPES = ("user", "team", "schedule")
_STEP_KEY = re.compile(r"^steps-(\d+)-(delay_minutes|channels|targets-(\d+)-(type|id))$")


def _reader() -> Principal:
    who = principal()
    who.require_scope("services:read")
    return who


def _writer() -> None:
    """Like the API: a policy may be shared by many services, so only someone not limited
    to some services may change one."""
    who = _reader()
    who.require_scope("services:write")
    if who.service_ids is not None:
        abort(403)


def _int_or_raw(text: str) -> int | str:
    """Digits become an int; anything else goes to the strict model as is, to be refused."""
    return int(text) if text.isdigit() else text


def parse_form(form: Any) -> dict[str, Any]:
    """The form as the API's request body (snake_case), blank spare rows dropped."""
    steps: dict[int, dict[str, Any]] = {}
    for key in form:
        match = _STEP_KEY.match(key)
        if not match:
            continue
        step = steps.setdefault(int(match[1]), {"delay": "", "channels": [], "targets": {}})
        if match[2] == "delay_minutes":
            step["delay"] = (form.get(key) or "").strip()
        elif match[2] == "channels":
            step["channels"] = [c for c in form.getlist(key) if c]
        else:
            target = step["targets"].setdefault(int(match[3]), {"type": "", "id": ""})
            target[match[4]] = (form.get(key) or "").strip()
    body_steps = []
    for _, step in sorted(steps.items()):
        targets = [t for _, t in sorted(step["targets"].items()) if t["id"]]
        if not targets and not step["delay"] and not step["channels"]:
            continue
        body_steps.append(
            {
                "delay_minutes": _int_or_raw(step["delay"]) if step["delay"] else 0,
                "targets": [{"type": t["type"] or "user", "id": t["id"]} for t in targets],
                "channels": step["channels"] or None,
            }
        )
    repeat = (form.get("repeat_count") or "").strip()
    return {
        "name": (form.get("name") or "").strip(),
        "description": (form.get("description") or "").strip() or None,
        "repeat_count": _int_or_raw(repeat) if repeat else 0,
        "steps": body_steps,
    }


def _refusal_errors(err: InvalidValue | UnknownReference | Conflict) -> dict[str, str]:
    return {err.field.replace(".", "-"): str(err)}


async def _choices() -> dict[str, Any]:
    async with session_scope(runtime().engine) as session:
        users = (await session.exec(select(User).order_by(col(User.name)))).all()
        teams = (await session.exec(select(Team).order_by(col(Team.name)))).all()
        schedules = (await session.exec(select(Schedule).order_by(col(Schedule.name)))).all()
    return {
        "choices": {
            "user": [(u.id, u.name) for u in users],
            "team": [(t.id, t.name) for t in teams],
            "schedule": [(s.id, s.name) for s in schedules],
        }
    }


async def _form(
    policy: EscalationPolicy | None, values: dict[str, Any], errors: dict[str, str], status: int
) -> Any:
    html = await render_template(
        "policy_form.html",
        policy=policy,
        values=values,
        errors=errors,
        channels=CHANNELS,
        target_types=TARGET_TYPES,
        **await _choices(),
    )
    return html, status


async def _policy(policy_id: str) -> EscalationPolicy:
    async with session_scope(runtime().engine) as session:
        policy = await session.get(EscalationPolicy, policy_id)
    if policy is None:
        abort(404)
    return policy


async def _list(message: str | None = None, status: int = 200) -> Any:
    who = _reader()
    async with session_scope(runtime().engine) as session:
        policies = list(await list_policies(session))
        ids = [p.id for p in policies]
        steps = await policy_steps(session, ids)
        used = await policy_service_ids(session, ids)
        wanted = {s for ss in used.values() for s in ss if who.can_access(s)}
        names = {}
        if wanted:
            rows = await session.exec(
                select(Service.id, Service.name).where(col(Service.id).in_(wanted))
            )
            names = dict(rows.all())
    rows_out = [
        {
            "policy": p,
            "steps": len(steps[p.id]),
            "services": [(s, names[s]) for s in used[p.id] if s in names],
            "in_use": bool(used[p.id]),
        }
        for p in policies
    ]
    can_write = who.has_scope("services:write") and who.service_ids is None
    html = await render_template(
        "policies.html", rows=rows_out, can_write=can_write, message=message
    )
    return html, status


@blueprint.get("/policies")
@page
async def list_page() -> Any:
    return await _list()


@blueprint.get("/policies/new")
@page
async def new_page() -> Any:
    _writer()
    return await _form(None, {"steps": []}, {}, 200)


@blueprint.post("/policies/new")
@page
async def new_post() -> Any:
    _writer()
    values = parse_form(await request.form)
    try:
        body = EscalationPolicyCreate.model_validate(values)
        async with session_scope(runtime().engine) as session:
            await create_policy(
                session,
                body.name,
                step_specs(body.steps),
                description=body.description,
                repeat_count=body.repeat_count,
            )
    except ValidationError as err:
        return await _form(None, values, nested_field_errors(err), 400)
    except REFUSALS as err:
        return await _form(None, values, _refusal_errors(err), 400)
    await flash(f"Escalation policy {body.name} created.", "info")
    return redirect(url_for("ui_policies.list_page"))


@blueprint.get("/policies/<policy_id>/edit")
@page
async def edit_page(policy_id: str) -> Any:
    _writer()
    policy = await _policy(policy_id)
    async with session_scope(runtime().engine) as session:
        steps = (await policy_steps(session, [policy_id]))[policy_id]
    values = {
        "name": policy.name,
        "description": policy.description or "",
        "repeat_count": policy.repeat_count,
        "steps": [
            {"delay_minutes": s.delay_minutes, "targets": s.targets, "channels": s.channels}
            for s in steps
        ],
    }
    return await _form(policy, values, {}, 200)


@blueprint.post("/policies/<policy_id>/edit")
@page
async def edit_post(policy_id: str) -> Any:
    _writer()
    policy = await _policy(policy_id)
    values = parse_form(await request.form)
    try:
        patch = EscalationPolicyPatch.model_validate(values)
        changes = patch.model_dump(exclude={"steps"})
        changes["steps"] = step_specs(patch.steps or [])
        async with session_scope(runtime().engine) as session:
            row = await session.get(EscalationPolicy, policy_id)
            if row is None:
                abort(404)
            await update_policy(session, row, changes)
    except ValidationError as err:
        return await _form(policy, values, nested_field_errors(err), 400)
    except REFUSALS as err:
        return await _form(policy, values, _refusal_errors(err), 400)
    await flash(f"Escalation policy {patch.name} saved.", "info")
    return redirect(url_for("ui_policies.list_page"))


@blueprint.post("/policies/<policy_id>/delete")
@page
async def delete_post(policy_id: str) -> Any:
    _writer()
    policy = await _policy(policy_id)
    try:
        async with session_scope(runtime().engine) as session:
            row = await session.get(EscalationPolicy, policy_id)
            if row is None:
                abort(404)
            await delete_policy(session, row)
    except InUse as err:
        return await _list(f"Cannot delete {policy.name}: {err}.", 409)
    await flash(f"Escalation policy {policy.name} deleted.", "info")
    return redirect(url_for("ui_policies.list_page"))
