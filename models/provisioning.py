"""Creating services and credentials: shared by the CLI and the management API.

A plaintext key is returned exactly once, from the function that created it; only its hash
is stored.
"""

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from models.audit import record, snapshot
from models.auth import ApiKey
from models.catalog import flush_service
from models.directory import require_team
from models.errors import InvalidValue, UnknownReference
from models.escalation_policies import require_policy
from models.service import Integration, Service
from models.user import User
from tocsin.keys import ApiKeyHasher, hash_key, new_api_key, new_id, new_integration_key

SCOPES = frozenset(
    {
        "events:write",
        "incidents:read",
        "incidents:write",
        "services:read",
        "services:write",
        "users:write",
        "admin",
    }
)


async def create_service(
    session: AsyncSession,
    name: str,
    description: str | None = None,
    *,
    team_id: str | None = None,
    escalation_policy_id: str | None = None,
    slack_channel: str | None = None,
    webhook_url: str | None = None,
) -> Service:
    if team_id is not None:
        await require_team(session, team_id)
    if escalation_policy_id is not None:
        await require_policy(session, escalation_policy_id)
    service = Service(
        id=new_id("svc"),
        name=name,
        description=description,
        team_id=team_id,
        escalation_policy_id=escalation_policy_id,
        slack_channel=slack_channel,
        webhook_url=webhook_url,
    )
    session.add(service)
    await flush_service(session)
    record(session, "create", service, after=snapshot(service))
    return service


async def create_integration(
    session: AsyncSession,
    service_id: str,
    name: str,
    *,
    type: str = "events",
    config: dict[str, Any] | None = None,
    sealed_secret: str | None = None,
) -> tuple[Integration, str]:
    """``config`` is already validated for ``type``; ``sealed_secret`` already sealed."""
    await _require_service(session, service_id)
    key = new_integration_key()
    integration = Integration(
        id=new_id("int"),
        service_id=service_id,
        name=name,
        key_hash=hash_key(key),
        key_prefix=key[:8],
        type=type,
        config=config or {},
        signing_secret=sealed_secret,
    )
    session.add(integration)
    await session.flush()
    record(session, "create", integration, after=snapshot(integration))
    return integration, key


async def create_api_key(
    session: AsyncSession,
    name: str,
    scopes: list[str],
    service_ids: list[str] | None = None,
    *,
    hasher: ApiKeyHasher,
    user_id: str | None = None,
) -> tuple[ApiKey, str]:
    """``user_id``: the key acts for that user; unless the user is an admin it then reaches
    only the services of the user's teams (see web/auth.py). ``hasher``: how the key is
    stored (``ApiKeyHasher.from_settings``)."""
    unknown = set(scopes) - SCOPES
    if unknown:
        raise InvalidValue("scopes", f"unknown scopes: {', '.join(sorted(unknown))}")
    for service_id in service_ids or []:
        await _require_service(session, service_id, "service_ids")
    if user_id is not None:
        user = await session.get(User, user_id)
        if user is None:
            raise UnknownReference("user_id", f"unknown user {user_id}")
        if "admin" in scopes and user.role != "admin":
            raise InvalidValue("scopes", "only an admin user's key may have the admin scope")
    key = new_api_key()
    api_key = ApiKey(
        id=new_id("key"),
        name=name,
        key_hash=hasher.stored(key),
        key_prefix=key[:10],
        scopes=sorted(set(scopes)),
        service_ids=service_ids,
        user_id=user_id,
    )
    session.add(api_key)
    await session.flush()
    record(session, "create", api_key, after=snapshot(api_key))
    return api_key, key


async def _require_service(
    session: AsyncSession, service_id: str, field: str = "service_id"
) -> None:
    service = await session.get(Service, service_id)
    if service is None or service.deleted_at is not None:
        raise UnknownReference(field, f"service {service_id} not found")
