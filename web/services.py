"""``/api/services``: what incidents belong to (scope services:read; services:write for
changes). A key limited to some services sees and touches only those."""

import asyncio
from typing import Any

from pydantic import ValidationError
from quart import Blueprint, request
from quart_schema import document_querystring, document_request, document_response, tag
from sqlmodel.ext.asyncio.session import AsyncSession

from models import Service
from models.catalog import list_services, live_service, open_incidents, soft_delete_service
from models.catalog import update_service as update_service_row
from models.db import session_scope
from models.provisioning import create_service
from web.auth import Principal
from web.bodies import parse_body
from web.errors import ApiError, error_responses, invalid_request
from web.management import (
    api_principal,
    not_found,
    refusals_as_api_errors,
    require_service_access,
    unrestricted_principal,
)
from web.management_schemas import (
    ServiceCreate,
    ServiceDeleted,
    ServiceDeleteQuery,
    ServiceList,
    ServiceOut,
    ServicePatch,
)
from web.runtime import runtime
from web.webhook_targets import check_webhook_target
from workflows.messages import ActionIn

blueprint = Blueprint("services", __name__)


def service_out(service: Service) -> dict[str, Any]:
    out = ServiceOut.model_validate(service, from_attributes=True)
    return out.model_dump(mode="json", by_alias=True)


async def accessible_service(principal: Principal, service_id: str) -> Service:
    """The live service, checking access first so a restricted key learns nothing about
    services outside its reach (403 whether or not they exist)."""
    require_service_access(principal, service_id)
    async with session_scope(runtime().engine) as session:
        service = await live_service(session, service_id)
    if service is None:
        raise not_found("Service")
    return service


@blueprint.get("/api/services")
@tag(["services"])
@document_response(ServiceList, 200)
@error_responses(401, 403)
async def list_route() -> dict[str, Any]:
    """The services this key can reach, oldest first (scope services:read)."""
    principal = await api_principal("services:read")
    async with session_scope(runtime().engine) as session:
        services = await list_services(session, principal.service_ids)
    return {"services": [service_out(s) for s in services]}


@blueprint.post("/api/services")
@tag(["services"])
@document_request(ServiceCreate)
@document_response(ServiceOut, 201)
@error_responses(400, 401, 403)
async def post_route() -> tuple[dict[str, Any], int]:
    """Create a service (scope services:write, on a key not limited to services: the new
    service would lie outside its reach); add integrations to send events to it."""
    await unrestricted_principal("services:write")
    body = await parse_body(ServiceCreate)
    with refusals_as_api_errors():
        async with session_scope(runtime().engine) as session:
            service = await create_service_from(session, body)
    return service_out(service), 201


async def create_service_from(session: AsyncSession, body: ServiceCreate) -> Service:
    """A service as a ServiceCreate describes it: the API's and the UI's one way in."""
    check_webhook_target("webhook_url", body.webhook_url)
    return await create_service(
        session,
        body.name,
        body.description,
        team_id=body.team_id,
        escalation_policy_id=body.escalation_policy_id,
        slack_channel=body.slack_channel,
        webhook_url=body.webhook_url,
    )


@blueprint.get("/api/services/<service_id>")
@tag(["services"])
@document_response(ServiceOut, 200)
@error_responses(401, 403, 404)
async def get_route(service_id: str) -> dict[str, Any]:
    """One service (scope services:read)."""
    principal = await api_principal("services:read")
    return service_out(await accessible_service(principal, service_id))


@blueprint.patch("/api/services/<service_id>")
@tag(["services"])
@document_request(ServicePatch)
@document_response(ServiceOut, 200)
@error_responses(400, 401, 403, 404)
async def patch_route(service_id: str) -> dict[str, Any]:
    """Change a service; ``null`` clears description, teamId, escalationPolicyId,
    slackChannel or webhookUrl (scope services:write)."""
    principal = await api_principal("services:write")
    await accessible_service(principal, service_id)
    body = await parse_body(ServicePatch)
    with refusals_as_api_errors():
        async with session_scope(runtime().engine) as session:
            service = await live_service(session, service_id)
            if service is None:
                raise not_found("Service")
            await update_service_from(session, service, body.model_dump(exclude_unset=True))
    return service_out(service)


async def update_service_from(
    session: AsyncSession, service: Service, changes: dict[str, Any]
) -> None:
    """Apply a ServicePatch's fields: the API's and the UI's one way to change a service."""
    check_webhook_target("webhook_url", changes.get("webhook_url"))
    await update_service_row(session, service, changes)


@blueprint.delete("/api/services/<service_id>")
@tag(["services"])
@document_querystring(ServiceDeleteQuery)
@document_response(ServiceDeleted, 200)
@error_responses(400, 401, 403, 404, 409)
async def delete_route(service_id: str) -> dict[str, Any]:
    """Delete a service (scope services:write): it disappears from the API, its integration
    keys stop working and events to it are refused; its incidents stay readable.

    409 SERVICE_HAS_OPEN_INCIDENTS while it has unresolved incidents, unless ``?force=true``
    (which also needs incidents:write): then each is resolved first, through its workflow.
    """
    principal = await api_principal("services:write")
    try:
        query = ServiceDeleteQuery.model_validate(request.args.to_dict())
    except ValidationError as err:
        raise invalid_request(err) from err
    await accessible_service(principal, service_id)
    engine = runtime().engine
    still_open = await _open_dedup_keys(service_id)
    if still_open and not query.force:
        raise ApiError(
            409,
            "SERVICE_HAS_OPEN_INCIDENTS",
            f"Service has {len(still_open)} open incident(s); resolve them or use ?force=true",
        )
    if query.force:
        principal.require_scope("incidents:write")
    resolved = await _resolve(principal, service_id, still_open)
    async with session_scope(engine) as session:
        service = await live_service(session, service_id)
        if service is None:  # deleted by a concurrent request
            raise not_found("Service")
        await soft_delete_service(session, service)
    if query.force:
        # A trigger accepted just before the delete may have opened one more incident.
        resolved += await _resolve(principal, service_id, await _open_dedup_keys(service_id))
    deleted = ServiceDeleted(id=service_id, resolved_incident_ids=resolved)
    return deleted.model_dump(mode="json", by_alias=True)


async def _open_dedup_keys(service_id: str) -> set[str]:
    """Open incidents as the read side shows them and as Temporal knows them (an incident
    accepted moments ago may not be projected yet)."""
    rt = runtime()
    async with session_scope(rt.engine) as session:
        projected = {i.dedup_key for i in await open_incidents(session, service_id)}
    return projected | await rt.commands.open_dedup_keys(service_id)


async def _resolve(principal: Principal, service_id: str, dedup_keys: set[str]) -> list[str]:
    """Resolve through each incident's workflow (web/ never writes incident rows)."""
    commands = runtime().commands
    results = await asyncio.gather(
        *(
            commands.act(service_id, key, "resolve", ActionIn(actor=principal.actor))
            for key in sorted(dedup_keys)
        )
    )
    return [r.incident.id for r in results if r.action == "resolved" and r.incident is not None]
