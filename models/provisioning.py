"""Creating services and credentials: shared by the CLI and (later) the management API.

A plaintext key is returned exactly once, from the function that created it; only its hash
is stored.
"""

from sqlmodel.ext.asyncio.session import AsyncSession

from models.auth import ApiKey
from models.service import Integration, Service
from tocsin.keys import hash_key, new_api_key, new_id, new_integration_key

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
    session: AsyncSession, name: str, description: str | None = None
) -> Service:
    service = Service(id=new_id("svc"), name=name, description=description)
    session.add(service)
    await session.flush()
    return service


async def create_integration(
    session: AsyncSession, service_id: str, name: str
) -> tuple[Integration, str]:
    await _require_service(session, service_id)
    key = new_integration_key()
    integration = Integration(
        id=new_id("int"),
        service_id=service_id,
        name=name,
        key_hash=hash_key(key),
        key_prefix=key[:8],
    )
    session.add(integration)
    await session.flush()
    return integration, key


async def create_api_key(
    session: AsyncSession,
    name: str,
    scopes: list[str],
    service_ids: list[str] | None = None,
) -> tuple[ApiKey, str]:
    unknown = set(scopes) - SCOPES
    if unknown:
        raise ValueError(f"unknown scopes: {', '.join(sorted(unknown))}")
    for service_id in service_ids or []:
        await _require_service(session, service_id)
    key = new_api_key()
    api_key = ApiKey(
        id=new_id("key"),
        name=name,
        key_hash=hash_key(key),
        key_prefix=key[:10],
        scopes=sorted(set(scopes)),
        service_ids=service_ids,
    )
    session.add(api_key)
    await session.flush()
    return api_key, key


async def _require_service(session: AsyncSession, service_id: str) -> None:
    if await session.get(Service, service_id) is None:
        raise LookupError(f"service {service_id} not found")
