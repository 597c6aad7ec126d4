"""``/api/services/<id>/integrations``: the keys monitoring tools send a service's events
with. A new key is shown once; revoking disables it for the next event."""

from typing import Any

from pydantic import BaseModel, ValidationError
from quart import Blueprint
from quart_schema import document_request, document_response, tag

from models import Integration
from models.audit import record, snapshot
from models.catalog import disable_integration, list_integrations
from models.db import session_scope
from models.provisioning import create_integration
from tocsin.secret_box import SecretBoxUnavailable, seal
from web.bodies import parse_body
from web.errors import ApiError, error_responses, invalid_request
from web.integrations.registry import ADAPTERS, INTEGRATION_TYPES, integration_url
from web.management import api_principal, not_found, refusals_as_api_errors
from web.management_schemas import (
    IntegrationCreate,
    IntegrationCreated,
    IntegrationList,
    IntegrationOut,
    IntegrationPatch,
)
from web.runtime import runtime
from web.services import accessible_service

blueprint = Blueprint("service_integrations", __name__)

MIN_SECRET_LENGTH = 8


def integration_out(integration: Integration) -> IntegrationOut:
    return IntegrationOut(
        id=integration.id,
        service_id=integration.service_id,
        name=integration.name,
        type=integration.type,
        config=integration.config,
        signed=integration.signing_secret is not None,
        key_prefix=integration.key_prefix,
        disabled=integration.disabled,
        created_at=integration.created_at,
    )


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
    """Create an integration; ``integrationKey`` and ``url`` are in this answer only (scope
    services:write)."""
    principal = await api_principal("services:write")
    await accessible_service(principal, service_id)
    body = await parse_body(IntegrationCreate)
    if body.type not in INTEGRATION_TYPES:
        raise ApiError(
            400,
            "INVALID_REQUEST",
            f"Invalid request body: type: must be one of {', '.join(INTEGRATION_TYPES)}",
            field="type",
        )
    config = _valid_config(body.type, body.config)
    sealed = _sealed_secret(body.type, body.signing_secret)
    with refusals_as_api_errors():
        async with session_scope(runtime().engine) as session:
            integration, key = await create_integration(
                session,
                service_id,
                body.name,
                type=body.type,
                config=config,
                sealed_secret=sealed,
            )
    created = IntegrationCreated(
        **integration_out(integration).model_dump(),
        integration_key=key,
        url=integration_url(runtime().settings.public_url, body.type, key),
    )
    return created.model_dump(mode="json", by_alias=True), 201


@blueprint.patch("/api/services/<service_id>/integrations/<integration_id>")
@tag(["services"])
@document_request(IntegrationPatch)
@document_response(IntegrationOut, 200)
@error_responses(400, 401, 403, 404)
async def patch_route(service_id: str, integration_id: str) -> dict[str, Any]:
    """Rename, change the type's options, or set/clear the signing secret (scope
    services:write). The key stays the same."""
    principal = await api_principal("services:write")
    await accessible_service(principal, service_id)
    body = await parse_body(IntegrationPatch)
    async with session_scope(runtime().engine) as session:
        integration = await session.get(Integration, integration_id)
        if integration is None or integration.service_id != service_id:
            raise not_found("Integration")
        before = snapshot(integration)
        if body.name is not None:
            integration.name = body.name
        if body.config is not None:
            integration.config = _valid_config(integration.type, body.config)
        if body.signing_secret == "":
            integration.signing_secret = None
        elif body.signing_secret is not None:
            integration.signing_secret = _sealed_secret(integration.type, body.signing_secret)
        session.add(integration)
        await session.flush()
        await session.refresh(integration)
        record(session, "update", integration, before=before, after=snapshot(integration))
    return integration_out(integration).model_dump(mode="json", by_alias=True)


@blueprint.delete("/api/services/<service_id>/integrations/<integration_id>")
@tag(["services"])
@document_response(IntegrationOut, 200)
@error_responses(401, 403, 404)
async def delete_route(service_id: str, integration_id: str) -> dict[str, Any]:
    """Revoke an integration: the next event with its key is refused (scope
    services:write)."""
    principal = await api_principal("services:write")
    await accessible_service(principal, service_id)
    async with session_scope(runtime().engine) as session:
        integration = await disable_integration(session, service_id, integration_id)
    if integration is None:
        raise not_found("Integration")
    return integration_out(integration).model_dump(mode="json", by_alias=True)


def _valid_config(integration_type: str, config: dict[str, Any]) -> dict[str, Any]:
    """The options as the type's Config model accepts them (400 naming the field)."""
    adapter = ADAPTERS.get(integration_type)
    if adapter is None:
        if config:
            raise ApiError(
                400,
                "INVALID_REQUEST",
                "Invalid request body: config: events integrations take no options",
                field="config",
            )
        return {}
    try:
        model: BaseModel = adapter.config.model_validate(config)
    except ValidationError as err:
        raise invalid_request(err, prefix="config") from err
    return model.model_dump(mode="json", by_alias=True, exclude_defaults=True)


def _sealed_secret(integration_type: str, secret: str | None) -> str | None:
    if secret is None:
        return None
    adapter = ADAPTERS.get(integration_type)
    if adapter is None or adapter.verify is None:
        raise ApiError(
            400,
            "INVALID_REQUEST",
            f"Invalid request body: signingSecret: {integration_type} requests are not signed",
            field="signingSecret",
        )
    if len(secret) < MIN_SECRET_LENGTH:
        raise ApiError(
            400,
            "INVALID_REQUEST",
            f"Invalid request body: signingSecret: at least {MIN_SECRET_LENGTH} characters",
            field="signingSecret",
        )
    try:
        return seal(runtime().settings, secret)
    except SecretBoxUnavailable as err:
        raise ApiError(
            503,
            "SIGNING_UNAVAILABLE",
            "Signing secrets need TOCSIN_WEBHOOK_SIGNING_KEY to be set on the server",
        ) from err
