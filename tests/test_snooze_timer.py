"""Snooze expiry on the time-skipping test server: a 30-minute snooze ends without waiting."""

import asyncio
import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import WorkflowEnvironment

from models import Incident
from models.db import session_scope
from tests.conftest import Tenant, new_key
from tocsin.settings import Settings
from web.commands import IncidentCommands
from web.queries import timeline_entries
from worker import build_worker
from workflows.ids import incident_workflow_id
from workflows.messages import AlertIn, ChangeIn, Status


async def status_of(engine: AsyncEngine, incident_id: str) -> str | None:
    async with session_scope(engine) as session:
        row = await session.get(Incident, incident_id)
        return None if row is None else row.status


async def snooze_and_expire(
    time_env: WorkflowEnvironment,
    engine: AsyncEngine,
    settings: Settings,
    tenant: Tenant,
    before: Status | None,
) -> tuple[str, list[str]]:
    queue = f"snooze-{uuid.uuid4().hex[:8]}"
    commands = IncidentCommands(time_env.client, queue)
    key = new_key()
    async with build_worker(time_env.client, engine, queue, settings):
        now = await time_env.get_current_time()
        alert = AlertIn(summary="disk full", source="t", severity="error", received_at=now)
        outcome = await commands.trigger(tenant.service_id, key, alert)
        workflow_id = incident_workflow_id(tenant.service_id, key)
        # Like the API, act on an incident once it is on the read side: the Java test server,
        # unlike the real one, may hand the first workflow task out before the start's signal.
        for _ in range(250):
            if await status_of(engine, outcome.incident_id) is not None:
                break
            await asyncio.sleep(0.02)
        if before is not None:
            await commands.change(workflow_id, outcome.incident_id, ChangeIn(status=before))
        snooze = ChangeIn(status=Status.SNOOZED, snoozed_until=now + timedelta(minutes=30))
        result = await commands.change(workflow_id, outcome.incident_id, snooze)
        assert result.incident is not None and result.incident.status == Status.SNOOZED
        await time_env.sleep(timedelta(minutes=29))
        assert await status_of(engine, outcome.incident_id) == "SNOOZED"
        await time_env.sleep(timedelta(minutes=2))
        handle = time_env.client.get_workflow_handle(workflow_id)
        await handle.query("incident")  # a round trip so the expiry has been processed
        status = await status_of(engine, outcome.incident_id)
        entries = await timeline_entries(engine, outcome.incident_id, kinds=("status",))
    assert status is not None
    return status, [e.actor for e in entries]


async def test_snooze_expires_back_to_open(
    time_env: WorkflowEnvironment, engine: AsyncEngine, settings: Settings, tenant: Tenant
) -> None:
    status, actors = await snooze_and_expire(time_env, engine, settings, tenant, None)
    assert status == "OPEN"
    assert actors[-1] == "timer"


async def test_snooze_of_acknowledged_returns_to_acknowledged(
    time_env: WorkflowEnvironment, engine: AsyncEngine, settings: Settings, tenant: Tenant
) -> None:
    status, actors = await snooze_and_expire(
        time_env, engine, settings, tenant, Status.ACKNOWLEDGED
    )
    assert status == "ACKNOWLEDGED"
    assert actors[-1] == "timer"
