"""Escalation policies run by the incident workflow, on the time-skipping test server: step
delays, repeats, ack mid-delay, snooze pause/resume, re-open, team fallback, suppression."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import WorkflowEnvironment

from models import Incident
from models.db import session_scope
from models.directory import delete_user
from models.user import User
from tests.conftest import Tenant, new_key
from tests.paging_helpers import give_policy, make_team, make_user, set_service
from tocsin.settings import Settings
from web.commands import IncidentCommands
from web.queries import timeline_entries
from worker import build_worker
from workflows.ids import incident_workflow_id
from workflows.messages import ActionIn, AlertIn, ChangeIn, Status


@dataclass
class Incident_:
    env: WorkflowEnvironment
    engine: AsyncEngine
    commands: IncidentCommands
    service_id: str
    dedup_key: str
    id: str
    t0: datetime

    @property
    def workflow_id(self) -> str:
        return incident_workflow_id(self.service_id, self.dedup_key)

    async def steps(self) -> list[tuple[int, str]]:
        """(minutes after the trigger, message) of every escalation entry so far."""
        entries = await timeline_entries(self.engine, self.id, kinds=("escalation",))
        return [(round((e.at - self.t0).total_seconds() / 60), e.message) for e in entries]

    async def row(self) -> Incident:
        async with session_scope(self.engine) as session:
            row = await session.get(Incident, self.id)
        assert row is not None
        return row

    async def advance(self, minutes: float) -> None:
        await self.env.sleep(timedelta(minutes=minutes))
        await self.env.client.get_workflow_handle(self.workflow_id).query("incident")

    async def change(self, **fields: object) -> None:
        await self.commands.change(self.workflow_id, self.id, ChangeIn.model_validate(fields))

    async def settle(self, check: Callable[[], Awaitable[bool]]) -> None:
        for _ in range(250):
            if await check():
                return
            await asyncio.sleep(0.02)
        raise AssertionError("the read side never caught up")

    async def steps_settle(self, count: int) -> list[tuple[int, str]]:
        async def enough() -> bool:
            return len(await self.steps()) >= count

        await self.settle(enough)
        await asyncio.sleep(0.1)  # nothing more should arrive
        return await self.steps()


@pytest_asyncio.fixture
async def run(
    time_env: WorkflowEnvironment, engine: AsyncEngine, settings: Settings
) -> AsyncIterator[Callable[..., Awaitable[Incident_]]]:
    queue = f"esc-{uuid.uuid4().hex[:8]}"
    commands = IncidentCommands(time_env.client, queue)

    async def trigger(tenant: Tenant, suppressed_by: str | None = None) -> Incident_:
        key = new_key()
        now = await time_env.get_current_time()
        alert = AlertIn(
            summary="disk full",
            source="host-1",
            severity="critical",
            received_at=now,
            suppressed_by=suppressed_by,
        )
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


async def people(engine: AsyncEngine, n: int) -> list[str]:
    return [(await make_user(engine, f"p{i}-{uuid.uuid4().hex[:4]}")).id for i in range(n)]


def who(steps: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """(minute, first name paged) of each step."""
    return [(m, msg.split("notifying ")[-1].split("-")[0]) for m, msg in steps]


async def test_steps_fire_after_their_delays_then_escalation_completes(
    run: Callable[..., Awaitable[Incident_]], engine: AsyncEngine, tenant: Tenant
) -> None:
    a, b, c = await people(engine, 3)
    await give_policy(
        engine, tenant.service_id, [(5, [("user", a)]), (10, [("user", b)]), (0, [("user", c)])]
    )
    incident = await run(tenant)
    assert who(await incident.steps_settle(1)) == [(0, "p0")]
    await incident.advance(4)
    assert len(await incident.steps()) == 1
    await incident.advance(2)
    assert who(await incident.steps_settle(2)) == [(0, "p0"), (5, "p1")]
    await incident.advance(30)
    assert who(await incident.steps_settle(3)) == [(0, "p0"), (5, "p1"), (15, "p2")]
    assert (await incident.row()).escalation_status == "COMPLETED"


async def test_policy_repeats_then_stops(
    run: Callable[..., Awaitable[Incident_]], engine: AsyncEngine, tenant: Tenant
) -> None:
    a, b = await people(engine, 2)
    await give_policy(engine, tenant.service_id, [(5, [("user", a)]), (5, [("user", b)])], repeat=1)
    incident = await run(tenant)
    await incident.steps_settle(1)
    for _ in range(8):
        await incident.advance(5)
    steps = await incident.steps_settle(4)
    assert who(steps) == [(0, "p0"), (5, "p1"), (10, "p0"), (15, "p1")]
    assert "round 2" in steps[2][1]
    assert (await incident.row()).escalation_status == "COMPLETED"


async def test_acknowledge_mid_delay_cancels_pending_steps(
    run: Callable[..., Awaitable[Incident_]], engine: AsyncEngine, tenant: Tenant
) -> None:
    a, b = await people(engine, 2)
    await give_policy(engine, tenant.service_id, [(5, [("user", a)]), (5, [("user", b)])])
    incident = await run(tenant)
    await incident.steps_settle(1)
    await incident.advance(2)
    await incident.commands.act(tenant.service_id, incident.dedup_key, "acknowledge", ActionIn())
    await incident.advance(30)
    assert who(await incident.steps_settle(1)) == [(0, "p0")]
    assert (await incident.row()).escalation_status == "COMPLETED"


async def test_snooze_pauses_the_clock_and_expiry_resumes_it(
    run: Callable[..., Awaitable[Incident_]], engine: AsyncEngine, tenant: Tenant
) -> None:
    a, b = await people(engine, 2)
    await give_policy(engine, tenant.service_id, [(10, [("user", a)]), (10, [("user", b)])])
    incident = await run(tenant)
    await incident.steps_settle(1)
    await incident.advance(4)
    until = incident.t0 + timedelta(minutes=34)
    await incident.change(status=Status.SNOOZED, snoozed_until=until)
    await incident.advance(30)  # snoozed: step 2 (due at 10) did not fire
    assert len(await incident.steps()) == 1
    await incident.advance(4)  # minute 38: the snooze ended at 34, 6 minutes were left
    assert len(await incident.steps()) == 1
    await incident.advance(3)  # minute 41
    steps = await incident.steps_settle(2)
    assert who(steps) == [(0, "p0"), (40, "p1")]


async def test_reopen_restarts_from_step_one(
    run: Callable[..., Awaitable[Incident_]], engine: AsyncEngine, tenant: Tenant
) -> None:
    a, b = await people(engine, 2)
    await give_policy(engine, tenant.service_id, [(5, [("user", a)]), (5, [("user", b)])])
    incident = await run(tenant)
    await incident.steps_settle(1)
    await incident.advance(1)
    await incident.change(status=Status.ACKNOWLEDGED)
    await incident.advance(2)
    await incident.change(status=Status.OPEN)
    await incident.steps_settle(2)
    await incident.advance(6)
    steps = await incident.steps_settle(3)
    assert who(steps) == [(0, "p0"), (3, "p0"), (8, "p1")]
    assert (await incident.row()).escalation_status == "COMPLETED"


async def test_without_a_policy_the_team_is_notified_once(
    run: Callable[..., Awaitable[Incident_]], engine: AsyncEngine, tenant: Tenant
) -> None:
    a = await make_user(engine, "ann")
    b = await make_user(engine, "bob")
    await set_service(engine, tenant.service_id, team_id=await make_team(engine, [a, b]))
    incident = await run(tenant)
    await incident.advance(60)
    steps = await incident.steps_settle(1)
    assert len(steps) == 1 and "ann" in steps[0][1] and "bob" in steps[0][1]
    assert (await incident.row()).escalation_status == "COMPLETED"


async def test_suppressed_incidents_never_escalate(
    run: Callable[..., Awaitable[Incident_]], engine: AsyncEngine, tenant: Tenant
) -> None:
    (a,) = await people(engine, 1)
    await give_policy(engine, tenant.service_id, [(5, [("user", a)])], repeat=3)
    incident = await run(tenant, suppressed_by="sup_maintenance")
    await incident.advance(60)
    await asyncio.sleep(0.2)
    assert await incident.steps() == []
    assert (await incident.row()).status == "SUPPRESSED"


async def test_changed_policy_applies_from_the_next_step(
    run: Callable[..., Awaitable[Incident_]], engine: AsyncEngine, tenant: Tenant
) -> None:
    a, b, c = await people(engine, 3)
    await give_policy(engine, tenant.service_id, [(5, [("user", a)]), (5, [("user", b)])])
    incident = await run(tenant)
    await incident.steps_settle(1)
    await give_policy(engine, tenant.service_id, [(5, [("user", c)]), (5, [("user", c)])])
    await incident.advance(6)
    assert who(await incident.steps_settle(2)) == [(0, "p0"), (5, "p2")]


async def test_deleted_people_are_skipped(
    run: Callable[..., Awaitable[Incident_]], engine: AsyncEngine, tenant: Tenant
) -> None:
    a, b = await people(engine, 2)
    await give_policy(engine, tenant.service_id, [(5, [("user", a), ("user", b)])])
    async with session_scope(engine) as session:
        user = await session.get(User, a)
        assert user is not None
        await delete_user(session, user)
    incident = await run(tenant)
    assert who(await incident.steps_settle(1)) == [(0, "p1")]
