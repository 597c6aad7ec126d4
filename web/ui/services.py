"""Service pages: list, create, edit, and a service's integrations (create, revoke).

Every change calls the functions the management API calls (models.provisioning,
models.catalog) after validating the form with the API's own request models, so there is
one set of rules. A new integration key is rendered once, in the answer to its POST."""

import json
from typing import Any

from pydantic import ValidationError
from quart import abort, flash, redirect, render_template, request, url_for
from sqlmodel import col, select

from models import EscalationPolicy, Service, Team
from models.catalog import disable_integration, list_integrations, live_service
from models.db import session_scope
from models.provisioning import create_integration
from web.integrations.registry import EVENTS_API, INTEGRATION_TYPES, integration_url
from web.management_schemas import IntegrationCreate, ServiceCreate, ServicePatch
from web.runtime import runtime
from web.services import create_service_from, update_service_from
from web.ui import ui_blueprint
from web.ui.auth import page, principal
from web.ui.forms import REFUSALS, field_errors
from web.ui.queries import visible_services

blueprint = ui_blueprint("ui_services", __name__)

FIELDS = ("name", "description", "team_id", "escalation_policy_id", "slack_channel", "webhook_url")


async def _choices() -> dict[str, Any]:
    async with session_scope(runtime().engine) as session:
        teams = list((await session.exec(select(Team).order_by(col(Team.name)))).all())
        policies = list(
            (
                await session.exec(select(EscalationPolicy).order_by(col(EscalationPolicy.name)))
            ).all()
        )
    return {"teams": teams, "policies": policies}


async def _service(service_id: str) -> Service:
    who = principal()
    who.require_scope("services:read")
    if not who.can_access(service_id):
        abort(403)
    async with session_scope(runtime().engine) as session:
        service = await live_service(session, service_id)
    if service is None:
        abort(404)
    return service


def _form_values(form: Any) -> dict[str, str]:
    return {f: (form.get(f) or "").strip() for f in FIELDS}


def _changes(values: dict[str, str]) -> dict[str, str | None]:
    """Empty optional inputs mean "none" (null in the API)."""
    return {f: (v or None) if f != "name" else v for f, v in values.items()}


@blueprint.get("/services")
@page
async def list_page() -> Any:
    who = principal()
    who.require_scope("services:read")
    services = await visible_services(runtime().engine, who.service_ids)
    return await render_template(
        "services.html", services=services, can_write=who.has_scope("services:write")
    )


async def _edit_form(
    service: Service | None, values: dict[str, str], errors: dict[str, str], status: int = 200
) -> Any:
    html = await render_template(
        "service_form.html", service=service, values=values, errors=errors, **await _choices()
    )
    return html, status


@blueprint.get("/services/new")
@page
async def new_page() -> Any:
    principal().require_scope("services:write")
    return await _edit_form(None, {}, {})


@blueprint.post("/services/new")
@page
async def new_post() -> Any:
    principal().require_scope("services:write")
    values = _form_values(await request.form)
    try:
        body = ServiceCreate.model_validate(_changes(values))
        async with session_scope(runtime().engine) as session:
            service = await create_service_from(session, body)
    except ValidationError as err:
        return await _edit_form(None, values, field_errors(err), 400)
    except REFUSALS as err:
        return await _edit_form(None, values, {err.field: str(err)}, 400)
    await flash("Service created.", "info")
    return redirect(url_for("ui_services.detail", service_id=service.id))


@blueprint.get("/services/<service_id>/edit")
@page
async def edit_page(service_id: str) -> Any:
    principal().require_scope("services:write")
    service = await _service(service_id)
    values = {f: getattr(service, f) or "" for f in FIELDS}
    return await _edit_form(service, values, {})


@blueprint.post("/services/<service_id>/edit")
@page
async def edit_post(service_id: str) -> Any:
    principal().require_scope("services:write")
    service = await _service(service_id)
    values = _form_values(await request.form)
    try:
        patch = ServicePatch.model_validate(_changes(values))
        async with session_scope(runtime().engine) as session:
            row = await live_service(session, service_id)
            if row is None:
                abort(404)
            await update_service_from(session, row, patch.model_dump(include=set(FIELDS)))
    except ValidationError as err:
        return await _edit_form(service, values, field_errors(err), 400)
    except REFUSALS as err:
        return await _edit_form(service, values, {err.field: str(err)}, 400)
    await flash("Service saved.", "info")
    return redirect(url_for("ui_services.detail", service_id=service_id))


async def _detail(
    service: Service, created: dict[str, str] | None = None, errors: dict[str, str] | None = None
) -> Any:
    async with session_scope(runtime().engine) as session:
        integrations = list(await list_integrations(session, service.id))
    html = await render_template(
        "service.html",
        service=service,
        integrations=integrations,
        types=INTEGRATION_TYPES,
        created=created,
        errors=errors or {},
        can_write=principal().has_scope("services:write"),
        **await _choices(),
    )
    return html, 400 if errors else 200


@blueprint.get("/services/<service_id>")
@page
async def detail(service_id: str) -> Any:
    return await _detail(await _service(service_id))


@blueprint.post("/services/<service_id>/integrations")
@page
async def integration_post(service_id: str) -> Any:
    """Create an integration and show its key, URL and snippets in this answer only."""
    principal().require_scope("services:write")
    service = await _service(service_id)
    form = await request.form
    try:
        body = IntegrationCreate.model_validate(
            {"name": (form.get("name") or "").strip(), "type": form.get("type") or EVENTS_API}
        )
    except ValidationError as err:
        return await _detail(service, errors=field_errors(err))
    if body.type not in INTEGRATION_TYPES:
        return await _detail(service, errors={"type": "Choose one of the listed types."})
    async with session_scope(runtime().engine) as session:
        integration, key = await create_integration(session, service_id, body.name, type=body.type)
    url = integration_url(runtime().settings.public_url, body.type, key)
    created = {"name": integration.name, "type": body.type, "key": key, "url": url}
    created |= snippets(body.type, key, url)
    return await _detail(service, created=created)


@blueprint.post("/services/<service_id>/integrations/<integration_id>/revoke")
@page
async def integration_revoke(service_id: str, integration_id: str) -> Any:
    principal().require_scope("services:write")
    await _service(service_id)
    async with session_scope(runtime().engine) as session:
        integration = await disable_integration(session, service_id, integration_id)
    if integration is None:
        abort(404)
    await flash(f"Integration {integration.name} revoked.", "info")
    return redirect(url_for("ui_services.detail", service_id=service_id))


def _shell_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


SAMPLE_ALERTMANAGER = {
    "version": "4",
    "status": "firing",
    "receiver": "tocsin",
    "groupKey": '{}:{alertname="TocsinTest"}',
    "commonLabels": {"alertname": "TocsinTest", "severity": "critical"},
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "TocsinTest", "severity": "critical"},
            "annotations": {"summary": "Test alert from curl"},
            "startsAt": "2024-01-01T00:00:00Z",
            "fingerprint": "tocsintest",
        }
    ],
}


def snippets(integration_type: str, key: str, url: str) -> dict[str, str]:
    """A ready-made curl command and, where Alertmanager can send, its receiver config."""
    if integration_type == EVENTS_API:
        body: dict[str, Any] = {
            "routing_key": key,
            "event_action": "trigger",
            "payload": {
                "summary": "Test event from curl",
                "source": "curl",
                "severity": "critical",
            },
        }
        alertmanager = (
            "receivers:\n  - name: tocsin\n    pagerduty_configs:\n"
            f"      - url: {url}\n        routing_key: {key}\n"
        )
    else:
        body = SAMPLE_ALERTMANAGER if integration_type == "alertmanager" else {"title": "Test"}
        alertmanager = (
            f"receivers:\n  - name: tocsin\n    webhook_configs:\n      - url: {url}\n"
            if integration_type == "alertmanager"
            else ""
        )
    curl = (
        f"curl -sS -X POST {_shell_quote(url)} -H 'Content-Type: application/json' "
        f"-d {_shell_quote(json.dumps(body, separators=(',', ':')))}"
    )
    return {"curl": curl, "alertmanager": alertmanager}
