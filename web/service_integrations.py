"""``/api/services/<id>/integrations``: the keys monitoring tools send a service's events
with. A new key is shown once; revoking disables it for the next event."""

from typing import Any

from quart import Blueprint
from quart_schema import document_request, document_response, tag

from models import Integration
from models.catalog import disable_integration, list_integrations
from models.db import session_scope
from models.provisioning import create_integration
from web.bodies import parse_body
from web.errors import error_responses
from web.management import api_principal, not_found, refusals_as_api_errors
from web.management_schemas import (
    IntegrationCreate,
    IntegrationCreated,
    IntegrationList,
    IntegrationOut,
)
from web.runtime import runtime
from web.services import accessible_service

blueprint = Blueprint("service_integrations", __name__)


def integration_out(integration: Integration) -> IntegrationOut:
    return IntegrationOut.model_validate(integration, from_attributes=True)


@blueprint.get("/api/services/<service_id>/integrations")
@tag(["services"])
@document_response(IntegrationList, 200)
@error_responses(401, 403, 404)
async def list_route(service_id: str) -> dict[str, Any]:
    """The service's integrations, revoked ones included (scope services:read)."""
    principal = await api_principal("services:read")
    await accessible_service(principal, service_id)
    async with session_scope(runtime().engine) as session:
        integrations = await list_integrations(session, service_id)
    page = IntegrationList(integrations=[integration_out(i) for i in integrations])
    return page.model_dump(mode="json", by_alias=True)


@blueprint.post("/api/services/<service_id>/integrations")
@tag(["services"])
@document_request(IntegrationCreate)
@document_response(IntegrationCreated, 201)
@error_responses(400, 401, 403, 404)
async def post_route(service_id: str) -> tuple[dict[str, Any], int]:
    """Create an integration; ``integrationKey`` is in this answer only (scope
    services:write)."""
    principal = await api_principal("services:write")
    await accessible_service(principal, service_id)
    body = await parse_body(IntegrationCreate)
    with refusals_as_api_errors():
        async with session_scope(runtime().engine) as session:
            integration, key = await create_integration(session, service_id, body.name)
    created = IntegrationCreated(**integration_out(integration).model_dump(), integration_key=key)
    return created.model_dump(mode="json", by_alias=True), 201


@blueprint.delete("/api/services/<service_id>/integrations/<integration_id>")
@tag(["services"])
@document_response(IntegrationOut, 200)
@error_responses(401, 403, 404)
async def delete_route(service_id: str, integration_id: str) -> dict[str, Any]:
    """Revoke an integration: the next event with its key gets 403 INVALID_INTEGRATION_KEY
    (scope services:write)."""
    principal = await api_principal("services:write")
    await accessible_service(principal, service_id)
    async with session_scope(runtime().engine) as session:
        integration = await disable_integration(session, service_id, integration_id)
    if integration is None:
        raise not_found("Integration")
    return integration_out(integration).model_dump(mode="json", by_alias=True)
