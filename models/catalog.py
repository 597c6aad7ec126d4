"""Changing and retiring services, integrations and API keys (creation is in
models/provisioning.py). Shared by the CLI and the management API; flushes, never commits.
"""

from collections.abc import Sequence

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.audit import record, snapshot
from models.auth import ApiKey
from models.columns import utcnow
from models.directory import require_team
from models.errors import UnknownReference
from models.escalation_policies import require_policy
from models.incident import Incident
from models.service import Integration, Service

RESOLVED = "RESOLVED"


async def live_service(session: AsyncSession, service_id: str) -> Service | None:
    """The service unless it does not exist or was deleted."""
    service = await session.get(Service, service_id)
    return None if service is None or service.deleted_at is not None else service


async def list_services(
    session: AsyncSession, service_ids: frozenset[str] | None
) -> Sequence[Service]:
    """Live services, oldest first; only ``service_ids`` unless that is None."""
    query = select(Service).where(col(Service.deleted_at).is_(None))
    if service_ids is not None:
        query = query.where(col(Service.id).in_(service_ids))
    return (await session.exec(query.order_by(col(Service.created_at), col(Service.id)))).all()


CHANGEABLE = (
    "name",
    "description",
    "team_id",
    "escalation_policy_id",
    "slack_channel",
    "webhook_url",
)


async def update_service(
    session: AsyncSession, service: Service, changes: dict[str, str | None]
) -> Service:
    """``changes`` maps name, description, team_id, escalation_policy_id, slack_channel and
    webhook_url to new values (None clears the optional ones)."""
    if changes.get("team_id") is not None:
        await require_team(session, str(changes["team_id"]))
    if changes.get("escalation_policy_id") is not None:
        await require_policy(session, str(changes["escalation_policy_id"]))
    before = snapshot(service)
    for field in CHANGEABLE:
        if field in changes:
            setattr(service, field, changes[field])
    session.add(service)
    await flush_service(session)
    record(session, "update", service, before=before, after=snapshot(service))
    return service


async def flush_service(session: AsyncSession) -> None:
    """Flush; a policy deleted since it was checked becomes an UnknownReference."""
    try:
        await session.flush()
    except IntegrityError as err:
        raise UnknownReference("escalation_policy_id", "unknown escalation policy") from err


async def open_incidents(session: AsyncSession, service_id: str) -> Sequence[Incident]:
    """Incidents of the service that the read side shows as not resolved."""
    rows = await session.exec(
        select(Incident).where(Incident.service_id == service_id, Incident.status != RESOLVED)
    )
    return rows.all()


async def soft_delete_service(session: AsyncSession, service: Service) -> None:
    """Hides the service and disables its integrations; incidents and alerts stay."""
    before = snapshot(service)
    service.deleted_at = utcnow()
    session.add(service)
    await session.exec(
        update(Integration)
        .where(col(Integration.service_id) == service.id)
        .values(disabled=True)
        .execution_options(synchronize_session=False)
    )
    await session.flush()
    record(session, "delete", service, before=before, after=snapshot(service))


async def list_integrations(session: AsyncSession, service_id: str) -> Sequence[Integration]:
    rows = await session.exec(
        select(Integration)
        .where(Integration.service_id == service_id)
        .order_by(col(Integration.created_at), col(Integration.id))
    )
    return rows.all()


async def disable_integration(
    session: AsyncSession, service_id: str, integration_id: str
) -> Integration | None:
    """None if the service has no such integration; disabling twice is harmless."""
    integration = await session.get(Integration, integration_id)
    if integration is None or integration.service_id != service_id:
        return None
    if not integration.disabled:
        before = snapshot(integration)
        integration.disabled = True
        session.add(integration)
        await session.flush()
        record(session, "disable", integration, before=before, after=snapshot(integration))
    return integration


async def list_api_keys(session: AsyncSession) -> Sequence[ApiKey]:
    rows = await session.exec(select(ApiKey).order_by(col(ApiKey.created_at), col(ApiKey.id)))
    return rows.all()


async def revoke_api_key(session: AsyncSession, key_id: str) -> ApiKey | None:
    """None if there is no such key; a revoked key keeps its first revocation time."""
    api_key = await session.get(ApiKey, key_id)
    if api_key is None:
        return None
    if api_key.revoked_at is None:
        before = snapshot(api_key)
        api_key.revoked_at = utcnow()
        session.add(api_key)
        await session.flush()
        record(session, "revoke", api_key, before=before, after=snapshot(api_key))
    return api_key
