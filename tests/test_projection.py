"""The projection activity is idempotent: retries never duplicate or move state backwards."""

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from activities.projection import ProjectionActivities
from models import Alert, AuditEntry, Incident
from models import TimelineEntry as TimelineRow
from models.db import session_scope
from tests.conftest import Tenant, new_key, trigger_body
from tests.polling import eventually
from workflows.ids import incident_workflow_id
from workflows.messages import (
    AlertRecord,
    EscalationStatus,
    IncidentSnapshot,
    Projection,
    Status,
    TimelineEntry,
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


def entry(seq: int, actor: str, message: str, to: Status | None = None) -> TimelineEntry:
    """A timeline entry; with ``to``, a status change (a person's: an audited action)."""
    data = {} if to is None else {"from": Status.OPEN.value, "to": to.value}
    return TimelineEntry(
        seq=seq, at=datetime.now(UTC), kind="status", actor=actor, message=message, data=data
    )


async def test_a_retried_workflow_task_replaces_what_an_abandoned_one_wrote(
    engine: AsyncEngine, tenant: Tenant
) -> None:
    """A worker killed after the projection (a local activity) wrote but before its workflow
    task completed: the retried task, which also saw what arrived meanwhile, reaches the
    same version and seqs with other contents (tests/chaos/test_soak.py's wrong status)."""
    activities = ProjectionActivities(engine)
    incident_id = new_key("inc")
    t1 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    t2 = t1 + timedelta(seconds=10)

    def write(status: Status, at: datetime, version: int, *last: TimelineEntry) -> Projection:
        snap = snapshot(tenant, incident_id, version, status).model_copy(update={"decided_at": at})
        steps = [entry(1, "integration:x", "Triggered"), entry(2, "integration:x", "alert")]
        return Projection(
            incident=snap, alerts=[alert(1)], timeline=[*steps, *last], timeline_from=1
        )

    abandoned = write(
        Status.RESOLVED,
        t1,
        2,
        entry(3, "user:a", "OPEN → RESOLVED", Status.RESOLVED),
        entry(4, "user:a", "OPEN → SNOOZED", Status.SNOOZED),
    )
    retried = write(Status.ACKNOWLEDGED, t2, 2, entry(3, "escalation", "nobody to notify"))
    acked = write(Status.ACKNOWLEDGED, t2, 3, entry(4, "api_key:k", "ack", Status.ACKNOWLEDGED))
    acked.timeline, acked.timeline_from = acked.timeline[-1:], 4
    await activities.project(abandoned)
    await activities.project(retried)
    await activities.project(write(Status.OPEN, t1, 3, entry(5, "escalation", "late")))
    async with session_scope(engine) as session:
        row = await session.get(Incident, incident_id)
        assert row is not None and (row.status, row.version) == ("ACKNOWLEDGED", 2)
        assert await timeline_of(session, incident_id) == [
            (1, "Triggered"), (2, "alert"), (3, "nobody to notify")
        ]  # fmt: skip
        assert await audited_of(session, incident_id) == []
    await activities.project(acked)
    async with session_scope(engine) as session:
        row = await session.get(Incident, incident_id)
        assert row is not None and (row.status, row.version) == ("ACKNOWLEDGED", 3)
        assert (await timeline_of(session, incident_id))[-1] == (4, "ack")
        assert await audited_of(session, incident_id) == [
            (f"incident:{incident_id}:4", "incident.acknowledge")
        ]


async def timeline_of(session: AsyncSession, incident_id: str) -> list[tuple[int, str]]:
    found = await session.execute(
        select(col(TimelineRow.seq), col(TimelineRow.message))
        .where(col(TimelineRow.incident_id) == incident_id)
        .order_by(col(TimelineRow.seq))
    )
    return [(seq, message) for seq, message in found.all()]


async def audited_of(session: AsyncSession, incident_id: str) -> list[tuple[str, str]]:
    found = await session.execute(
        select(col(AuditEntry.source_key), col(AuditEntry.action))
        .where(col(AuditEntry.target_id) == incident_id)
        .order_by(col(AuditEntry.source_key))
    )
    return [(str(key), action) for key, action in found.all()]


async def test_the_workflow_stamps_each_write_with_its_workflow_task(
    http: httpx.AsyncClient, client: Client, engine: AsyncEngine, tenant: Tenant
) -> None:
    """What orders the writes above: the workflow time of the task that made them."""
    key = new_key("stamp")
    accepted = await http.post("/api/events", json=trigger_body(key), headers=tenant.token)
    incident_id = accepted.json()["incident_key"]
    handle = client.get_workflow_handle(incident_workflow_id(tenant.service_id, key))

    async def stamped() -> datetime | None:
        async with session_scope(engine) as session:
            row = await session.get(Incident, incident_id)
            return None if row is None else row.decided_at

    stamp = await eventually(stamped, "the incident on the read side")
    # workflow.now(): the task's start, moved on by the local activities it ran before
    events = {e.event_id: e for e in (await handle.fetch_history()).events}
    tasks = [
        (events[e.workflow_task_completed_event_attributes.started_event_id], e)
        for e in events.values()
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    ]
    assert any(
        began.event_time.ToDatetime(tzinfo=UTC) <= stamp <= ended.event_time.ToDatetime(tzinfo=UTC)
        for began, ended in tasks
    )
