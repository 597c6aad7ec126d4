"""Escalation steps that target schedules, on the time-skipping test server: the schedule is
resolved when the step fires (an override made after the trigger counts), nobody on call is
recorded and the escalation goes on, a deleted schedule is skipped; and the policies API
takes schedule targets."""

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta

import httpx
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import WorkflowEnvironment

from models import Incident
from models.db import session_scope
from models.escalation import StepSpec, Target, check_steps
from tests.conftest import Tenant, make_api_key, new_key
from tests.paging_helpers import give_policy, make_user
from tests.schedule_rows import add_override, delete_schedule, layer, make_schedule
from tests.test_escalation import Incident_
from tocsin.settings import Settings
from web.commands import IncidentCommands
from web.queries import timeline_entries
from worker import build_worker
from workflows.messages import AlertIn


@pytest_asyncio.fixture
async def run(
    time_env: WorkflowEnvironment, engine: AsyncEngine, settings: Settings
) -> AsyncIterator[Callable[[Tenant], Awaitable[Incident_]]]:
    queue = f"sch-esc-{uuid.uuid4().hex[:8]}"
    commands = IncidentCommands(time_env.client, queue)

    async def trigger(tenant: Tenant) -> Incident_:
        key = new_key()
        now = await time_env.get_current_time()
        alert = AlertIn(summary="disk full", source="host-1", severity="critical", received_at=now)
        outcome = await commands.trigger(tenant.service_id, key, alert)
        incident = Incident_(
            time_env, engine, commands, tenant.service_id, key, outcome.incident_id, now
        )

        async def on_read_side() -> bool:
            async with session_scope(engine) as session:
                return await session.get(Incident, outcome.incident_id) is not None

        await incident.settle(on_read_side)
        return incident

    async with build_worker(time_env.client, engine, queue, settings):
        yield trigger


async def step_data(incident: Incident_) -> list[dict]:
    entries = await timeline_entries(incident.engine, incident.id, kinds=("escalation",))
    return [e.data for e in entries]


async def test_a_schedule_step_pages_whoever_is_on_call_when_it_fires(
    run: Callable[[Tenant], Awaitable[Incident_]],
    engine: AsyncEngine,
    tenant: Tenant,
    time_env: WorkflowEnvironment,
) -> None:
    ann = await make_user(engine, f"ann{uuid.uuid4().hex[:4]}")
    bob = await make_user(engine, f"bob{uuid.uuid4().hex[:4]}")
    now = await time_env.get_current_time()
    # Ann is on call around the clock (a one-person daily rotation).
    primary = await make_schedule(engine, [layer([ann.id], now - timedelta(days=2), days=1)])
    await give_policy(
        engine,
        tenant.service_id,
        [(10, [("schedule", primary.id)]), (10, [("schedule", primary.id)])],
    )
    incident = await run(tenant)
    steps = await incident.steps_settle(1)
    assert steps == [(0, f"Escalation step 1: notifying {ann.name}; on call for {primary.name}: "
                         f"{ann.name}")]  # fmt: skip
    # Made after the trigger, before step 2: Bob covers minutes 5 to 60.
    t0 = incident.t0
    await add_override(
        engine, primary.id, bob.id, t0 + timedelta(minutes=5), t0 + timedelta(hours=1)
    )
    await incident.advance(11)
    steps = await incident.steps_settle(2)
    assert steps[1] == (10, f"Escalation step 2: notifying {bob.name}; on call for "
                            f"{primary.name}: {bob.name}")  # fmt: skip
    data = await step_data(incident)
    assert [d["schedules"] for d in data] == [{primary.id: [ann.id]}, {primary.id: [bob.id]}]
    assert [d["recipients"] for d in data] == [[ann.name], [bob.name]]


async def test_nobody_on_call_is_recorded_and_escalation_goes_on(
    run: Callable[[Tenant], Awaitable[Incident_]],
    engine: AsyncEngine,
    tenant: Tenant,
    time_env: WorkflowEnvironment,
) -> None:
    cid = await make_user(engine, f"cid{uuid.uuid4().hex[:4]}")
    now = await time_env.get_current_time()
    # Starts next month: nobody is on call yet.
    empty = await make_schedule(engine, [layer([cid.id], now + timedelta(days=30), days=1)])
    await give_policy(
        engine, tenant.service_id, [(5, [("schedule", empty.id)]), (5, [("user", cid.id)])]
    )
    incident = await run(tenant)
    assert await incident.steps_settle(1) == [
        (0, f"Escalation step 1: nobody to notify; nobody on call for {empty.name}")
    ]
    await incident.advance(6)  # the empty step's delay still applies
    steps = await incident.steps_settle(2)
    assert steps[1] == (5, f"Escalation step 2: notifying {cid.name}")
    data = await step_data(incident)
    assert data[0]["schedules"] == {empty.id: []} and data[0]["recipients"] == []
    assert "schedules" not in data[1]
    assert (await incident.row()).escalation_status == "COMPLETED"


async def test_a_deleted_schedule_is_skipped(
    run: Callable[[Tenant], Awaitable[Incident_]],
    engine: AsyncEngine,
    tenant: Tenant,
    time_env: WorkflowEnvironment,
) -> None:
    ann = await make_user(engine, f"ann{uuid.uuid4().hex[:4]}")
    dan = await make_user(engine, f"dan{uuid.uuid4().hex[:4]}")
    now = await time_env.get_current_time()
    gone = await make_schedule(engine, [layer([ann.id], now - timedelta(days=1), days=1)])
    await give_policy(engine, tenant.service_id, [(5, [("schedule", gone.id), ("user", dan.id)])])
    await delete_schedule(engine, gone.id)
    incident = await run(tenant)
    assert await incident.steps_settle(1) == [(0, f"Escalation step 1: notifying {dan.name}")]
    assert "schedules" not in (await step_data(incident))[0]


@pytest_asyncio.fixture
async def admin(engine: AsyncEngine) -> dict[str, str]:
    return {"Authorization": f"Bearer {await make_api_key(engine, ['admin'])}"}


async def test_policies_api_takes_schedule_targets(
    http: httpx.AsyncClient, engine: AsyncEngine, admin: dict[str, str]
) -> None:
    ann = await make_user(engine)
    schedule = await make_schedule(engine, [layer([ann.id], datetime(2024, 1, 1), days=1)])
    steps = [{"delayMinutes": 5, "targets": [{"type": "schedule", "id": schedule.id}]}]
    body = {"name": f"pol-{uuid.uuid4().hex[:6]}", "steps": steps}
    created = await http.post("/api/escalation-policies", json=body, headers=admin)
    assert created.status_code == 201, created.text
    assert created.json()["steps"][0]["targets"] == [{"type": "schedule", "id": schedule.id}]

    steps.append({"delayMinutes": 5, "targets": [{"type": "schedule", "id": "sch_nope"}]})
    changed = await http.patch(
        f"/api/escalation-policies/{created.json()['id']}", json={"steps": steps}, headers=admin
    )
    assert changed.status_code == 400, changed.text
    error = changed.json()["error"]
    assert (error["code"], error["field"]) == ("INVALID_REQUEST", "steps.1.targets.0.id")
    assert "unknown schedule sch_nope" in error["message"]


def test_check_steps_accepts_schedule_targets() -> None:
    check_steps([StepSpec(delay_minutes=0, targets=(Target("schedule", "sch_1"),))])
