"""``/api/api-keys``: bearer credentials (scope admin, on a key not limited to services).
The key itself is in the creation answer only; listings never show it or its hash."""

from typing import Any

from quart import Blueprint
from quart_schema import document_request, document_response, tag

from models import ApiKey
from models.catalog import list_api_keys, revoke_api_key
from models.db import session_scope
from models.provisioning import create_api_key
from tocsin.keys import ApiKeyHasher
from web.bodies import parse_body
from web.errors import error_responses
from web.management import (
    api_principal,
    not_found,
    refusals_as_api_errors,
    require_unrestricted,
)
from web.management_schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyList, ApiKeyOut
from web.runtime import runtime

blueprint = Blueprint("api_keys", __name__)


def api_key_out(api_key: ApiKey) -> ApiKeyOut:
    return ApiKeyOut(
        id=api_key.id,
        name=api_key.name,
        prefix=api_key.key_prefix,
        scopes=api_key.scopes,
        service_ids=api_key.service_ids,
        user_id=api_key.user_id,
        created_at=api_key.created_at,
        revoked_at=api_key.revoked_at,
    )


async def _admin() -> None:
    require_unrestricted(await api_principal("admin"))


@blueprint.get("/api/api-keys")
@tag(["api-keys"])
@document_response(ApiKeyList, 200)
@error_responses(401, 403)
async def list_route() -> dict[str, Any]:
    """Every API key, revoked ones included, oldest first (scope admin)."""
    await _admin()
    async with session_scope(runtime().engine) as session:
        keys = await list_api_keys(session)
    return ApiKeyList(api_keys=[api_key_out(k) for k in keys]).model_dump(
        mode="json", by_alias=True
    )


@blueprint.post("/api/api-keys")
@tag(["api-keys"])
@document_request(ApiKeyCreate)
@document_response(ApiKeyCreated, 201)
@error_responses(400, 401, 403)
async def post_route() -> tuple[dict[str, Any], int]:
    """Create an API key; ``key`` is in this answer only (scope admin). With ``userId`` of
    a non-admin user the key reaches only that user's teams' services and cannot have the
    admin scope."""
    await _admin()
    body = await parse_body(ApiKeyCreate)
    with refusals_as_api_errors():
        async with session_scope(runtime().engine) as session:
            api_key, key = await create_api_key(
                session,
                body.name,
                body.scopes,
                body.service_ids,
                user_id=body.user_id,
                hasher=ApiKeyHasher.from_settings(runtime().settings),
            )
    created = ApiKeyCreated(**api_key_out(api_key).model_dump(), key=key)
    return created.model_dump(mode="json", by_alias=True), 201


@blueprint.delete("/api/api-keys/<key_id>")
@tag(["api-keys"])
@document_response(ApiKeyOut, 200)
@error_responses(401, 403, 404)
async def delete_route(key_id: str) -> dict[str, Any]:
    """Revoke an API key; its next request gets 401 (scope admin)."""
    await _admin()
    async with session_scope(runtime().engine) as session:
        api_key = await revoke_api_key(session, key_id)
    if api_key is None:
        raise not_found("API key")
    return api_key_out(api_key).model_dump(mode="json", by_alias=True)
