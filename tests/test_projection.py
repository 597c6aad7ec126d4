"""The projection activity is idempotent: retries never duplicate or move state backwards."""

from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col

from activities.projection import ProjectionActivities
from models import Alert, Incident
from models.db import session_scope
from tests.conftest import Tenant, new_key
from workflows.messages import (
    AlertRecord,
    EscalationStatus,
    IncidentSnapshot,
    Projection,
    Status,
    Urgency,
)


def snapshot(tenant: Tenant, incident_id: str, version: int, status: Status) -> IncidentSnapshot:
    now = datetime.now(UTC)
    return IncidentSnapshot(
        id=incident_id,
        workflow_id="wf",
        service_id=tenant.service_id,
        dedup_key="k",
        title=f"v{version}",
        description=None,
        status=status,
        urgency=Urgency.HIGH,
        escalation_status=EscalationStatus.ACTIVE,
        alert_count=version,
        created_at=now,
        last_alert_at=now,
        version=version,
    )


def alert(seq: int) -> AlertRecord:
    return AlertRecord(
        seq=seq,
        received_at=datetime.now(UTC),
        summary="s",
        source="src",
        severity="info",
        payload={"n": seq},
    )


async def test_retried_and_stale_projections_change_nothing(
    engine: AsyncEngine, tenant: Tenant
) -> None:
    activities = ProjectionActivities(engine)
    incident_id = new_key("inc")
    newer = Projection(
        incident=snapshot(tenant, incident_id, 2, Status.ACKNOWLEDGED), alerts=[alert(1), alert(2)]
    )
    older = Projection(incident=snapshot(tenant, incident_id, 1, Status.OPEN), alerts=[alert(1)])
    await activities.project(newer)
    await activities.project(newer)  # a retry
    await activities.project(older)  # a late, stale write
    async with session_scope(engine) as session:
        row = await session.get(Incident, incident_id)
        count = (
            await session.execute(
                select(func.count()).select_from(Alert).where(col(Alert.incident_id) == incident_id)
            )
        ).scalar_one()
    assert row is not None
    assert (row.version, row.status, row.title) == (2, "ACKNOWLEDGED", "v2")
    assert count == 2
