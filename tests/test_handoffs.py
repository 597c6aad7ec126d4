"""Handoff notifications: the pure handoff rules, the per-schedule workflow's timing on the
time-skipping server (fires at the shift start, a replan moves it, deletion ends it), and a
handoff DM reaching the fake Slack on the real stack."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.handoffs import HandoffActivities, incoming, next_handoff, on_call_until
from activities.slack_client import slack_client
from models.db import session_scope
from models.notifications import Notification
from models.schedule_spec import OverrideSpec, ScheduleSpec
from models.schedules import Schedule
from models.shifts import render
from tests.fakes.mail_fixtures import MailServer
from tests.fakes.slack_api import FakeSlack
from tests.paging_helpers import make_user
from tests.polling import eventually
from tests.schedule_rows import add_override, delete_schedule, layer, make_schedule
from tocsin.settings import Settings
from web.handoffs import replan_handoffs
from worker import build_worker
from workflows.handoffs import handoffs_workflow_id
from workflows.notifications import HandoffAt, HandoffPlan

T0 = datetime(2025, 3, 3, 12, tzinfo=UTC)


# --- the rules (pure) ------------------------------------------------------------------------


def spec(*overrides: OverrideSpec) -> ScheduleSpec:
    """a and b hand over daily at 09:00 UTC (a from 2025-03-01)."""
    start = datetime(2025, 3, 1, 9)
    return ScheduleSpec(
        time_zone="UTC", layers=[layer(["a", "b"], start, days=1)], overrides=list(overrides)
    )


def override(user: str, start: datetime, end: datetime) -> OverrideSpec:
    return OverrideSpec(user_id=user, start=start, end=end, created_at=T0)


def test_the_next_handoff_is_the_next_person_coming_on_call() -> None:
    shifts = render(spec(), T0, T0 + timedelta(days=3))
    assert next_handoff(shifts, T0) == (datetime(2025, 3, 4, 9, tzinfo=UTC), ["b"])
    at = datetime(2025, 3, 4, 9, tzinfo=UTC)
    assert next_handoff(shifts, at) == (datetime(2025, 3, 5, 9, tzinfo=UTC), ["a"])
    assert on_call_until(shifts, "b", at, T0 + timedelta(days=3)) == at + timedelta(days=1)
    hi, later = T0 + timedelta(days=3), at + timedelta(days=1)
    assert on_call_until(shifts, "a", later, hi) == later + timedelta(days=1)
    assert on_call_until(shifts, "b", later + timedelta(days=1), hi) is None  # past the window


def test_overrides_hand_over_and_back() -> None:
    cover = override("c", T0 + timedelta(hours=1), T0 + timedelta(hours=2))
    shifts = render(spec(cover), T0, T0 + timedelta(days=2))
    assert next_handoff(shifts, T0) == (T0 + timedelta(hours=1), ["c"])
    assert next_handoff(shifts, T0 + timedelta(hours=1)) == (T0 + timedelta(hours=2), ["a"])


def test_staying_on_call_is_no_handoff() -> None:
    # a covers the rest of their own shift, then their own shift again: never "coming on".
    own = override("a", T0 + timedelta(hours=1), T0 + timedelta(hours=3))
    shifts = render(spec(own), T0, T0 + timedelta(days=1))
    assert incoming(shifts, T0 + timedelta(hours=1)) == []
    assert next_handoff(shifts, T0)[1] == ["b"]  # type: ignore[index]
    solo = ScheduleSpec(time_zone="UTC", layers=[layer(["a"], datetime(2025, 3, 1, 9), days=1)])
    assert next_handoff(render(solo, T0, T0 + timedelta(days=14)), T0) is None


# --- the workflow, on the time-skipping server -----------------------------------------------


class Handoffs:
    def __init__(self, env: WorkflowEnvironment, engine: AsyncEngine, queue: str) -> None:
        self.env = env
        self.engine = engine
        self.queue = queue
        self.started: set[str] = set()

    def handle(self, schedule_id: str) -> WorkflowHandle[Any, Any]:
        return self.env.client.get_workflow_handle(handoffs_workflow_id(schedule_id))

    async def replan(self, schedule_id: str) -> None:
        self.started.add(schedule_id)
        await replan_handoffs(self.env.client, self.queue, schedule_id)

    async def stop_all(self) -> None:
        """A workflow left waiting on a timer with its worker gone would stall the shared
        time-skipping server for the tests after this one."""
        for schedule_id in self.started:
            with contextlib.suppress(RPCError):
                await self.handle(schedule_id).terminate("test over")

    async def plan(self, schedule_id: str, at: datetime | None = None) -> HandoffPlan:
        """The plan the workflow waits on, once it is for ``at`` (any, if None)."""

        async def planned() -> HandoffPlan | None:
            found = await self.handle(schedule_id).query(
                "plan", result_type=cast(type, HandoffPlan | None)
            )
            return found if found is not None and (at is None or found.at == at) else None

        plan: HandoffPlan = await eventually(planned, f"a plan for {at}")
        return plan

    async def sent(self, schedule_id: str) -> list[Notification]:
        async with session_scope(self.engine) as session:
            rows = await session.exec(
                select(Notification)
                .where(Notification.incident_id == schedule_id)
                .order_by(col(Notification.created_at))
            )
            return list(rows.all())

    async def sent_to(self, schedule_id: str, count: int) -> list[Notification]:
        async def enough() -> list[Notification] | None:
            rows = await self.sent(schedule_id)
            done = [r for r in rows if r.status != "sending"]
            return done if len(done) >= count else None

        found: list[Notification] = await eventually(enough, f"{count} handoff notifications")
        await asyncio.sleep(0.2)  # nothing more should come
        assert len(await self.sent(schedule_id)) == count
        return found


@pytest_asyncio.fixture
async def handoffs(
    time_env: WorkflowEnvironment, engine: AsyncEngine, settings: Settings
) -> AsyncIterator[Handoffs]:
    queue = f"handoffs-{uuid.uuid4().hex[:8]}"
    async with build_worker(time_env.client, engine, queue, settings):
        handoffs = Handoffs(time_env, engine, queue)
        try:
            yield handoffs
        finally:
            await handoffs.stop_all()


async def rotation(
    env: WorkflowEnvironment, engine: AsyncEngine, names: Sequence[str], hours_left: int
) -> tuple[datetime, Schedule, list[Any]]:
    """A daily rotation of new people; the first one's shift ends ``hours_left`` hours from
    now (whole minutes), when the second one's starts."""
    now = (await env.get_current_time()).replace(second=0, microsecond=0)
    people = [await make_user(engine, f"{n}{uuid.uuid4().hex[:4]}") for n in names]
    start = now + timedelta(hours=hours_left) - timedelta(days=1)
    schedule = await make_schedule(
        engine, [layer([p.id for p in people], start, days=1)], handoffs=True
    )
    return now, schedule, people


async def test_handoff_fires_at_the_shift_start(
    handoffs: Handoffs, engine: AsyncEngine, smtp_server: MailServer
) -> None:
    now, schedule, (ann, bob) = await rotation(handoffs.env, engine, ["ann", "bob"], 3)
    await handoffs.replan(schedule.id)
    handoff = now + timedelta(hours=3)
    plan = await handoffs.plan(schedule.id, handoff)
    assert plan.user_ids == [bob.id]
    await handoffs.env.sleep(timedelta(hours=2, minutes=50))
    await asyncio.sleep(0.3)
    assert await handoffs.sent(schedule.id) == []
    await handoffs.env.sleep(timedelta(minutes=15))
    [row] = await handoffs.sent_to(schedule.id, 1)
    assert (row.user_id, row.channel, row.purpose, row.status) == (
        bob.id,
        "email",
        "handoff",
        "sent",
    )
    assert handoff.isoformat() in row.key
    [mail] = smtp_server.to(bob.email)
    assert schedule.name in mail["Subject"]
    # Then it waits for the next one: Ann, a day later.
    assert (await handoffs.plan(schedule.id, handoff + timedelta(days=1))).user_ids == [ann.id]


async def test_a_replan_moves_the_handoff(handoffs: Handoffs, engine: AsyncEngine) -> None:
    now, schedule, (ann, bob) = await rotation(handoffs.env, engine, ["ann", "bob"], 3)
    await handoffs.replan(schedule.id)
    await handoffs.plan(schedule.id, now + timedelta(hours=3))
    cid = await make_user(engine, f"cid{uuid.uuid4().hex[:4]}")
    start = now + timedelta(hours=1)
    await add_override(engine, schedule.id, cid.id, start, start + timedelta(minutes=30))
    await handoffs.replan(schedule.id)
    assert (await handoffs.plan(schedule.id, start)).user_ids == [cid.id]
    await handoffs.env.sleep(timedelta(minutes=65))
    [row] = await handoffs.sent_to(schedule.id, 1)
    assert row.user_id == cid.id
    # Back to Ann when the override ends, then Bob at the rotation's handoff.
    assert (await handoffs.plan(schedule.id, start + timedelta(minutes=30))).user_ids == [ann.id]
    await handoffs.env.sleep(timedelta(minutes=30))
    rows = await handoffs.sent_to(schedule.id, 2)
    assert [r.user_id for r in rows] == [cid.id, ann.id]
    assert (await handoffs.plan(schedule.id, now + timedelta(hours=3))).user_ids == [bob.id]


async def test_deleting_the_schedule_or_turning_notifications_off_ends_it(
    handoffs: Handoffs, engine: AsyncEngine
) -> None:
    _, gone, _ = await rotation(handoffs.env, engine, ["ann", "bob"], 3)
    _, quiet, _ = await rotation(handoffs.env, engine, ["cid", "dan"], 3)
    for schedule in (gone, quiet):
        await handoffs.replan(schedule.id)
        await handoffs.plan(schedule.id)
    await delete_schedule(engine, gone.id)
    async with session_scope(engine) as session:
        row = await session.get(Schedule, quiet.id)
        assert row is not None
        row.handoff_notifications = False
        session.add(row)
    for schedule in (gone, quiet):
        await handoffs.replan(schedule.id)
        assert await asyncio.wait_for(handoffs.handle(schedule.id).result(), 10) == 0
    await asyncio.sleep(0.2)
    assert await handoffs.sent(gone.id) == [] and await handoffs.sent(quiet.id) == []


async def test_a_schedule_without_notifications_starts_nothing_lasting(
    handoffs: Handoffs, engine: AsyncEngine
) -> None:
    now = await handoffs.env.get_current_time()
    ann = await make_user(engine)
    schedule = await make_schedule(engine, [layer([ann.id], now, days=1)])
    await handoffs.replan(schedule.id)
    assert await asyncio.wait_for(handoffs.handle(schedule.id).result(), 10) == 0


# --- exactly once ----------------------------------------------------------------------------


async def test_a_retried_send_never_sends_twice(
    engine: AsyncEngine, settings: Settings, slack_api: FakeSlack, smtp_server: MailServer
) -> None:
    """The same notice again sends nothing; a retry after a crash between Slack's answer and
    the recorded outcome finds the DM by its key instead of posting again."""
    slack_user = slack_api.add_user("Fay")
    fay = await make_user(engine, f"fay{uuid.uuid4().hex[:4]}", slack=slack_user["id"])
    schedule = await make_schedule(
        engine, [layer([fay.id], datetime(2025, 3, 1, 9), days=1)], handoffs=True
    )
    slack = slack_client(settings)
    try:
        acts = HandoffActivities(engine, settings, slack)
        env = ActivityEnvironment()
        notices = await env.run(
            acts.notices,
            HandoffAt(schedule_id=schedule.id, start=datetime(2025, 3, 1, 9, tzinfo=UTC)),
        )
        assert [(n.channel.value, n.address) for n in notices] == [("slack", slack_user["id"])]
        [notice] = notices
        first = await env.run(acts.send, notice)
        assert first.status == "sent"
        assert (await env.run(acts.send, notice)).status == "sent"
        async with session_scope(engine) as session:
            row = await session.get(Notification, notice.key)
            assert row is not None and row.attempts == 1
            row.status = "sending"  # as if the worker died before recording the outcome
            session.add(row)
        again = await env.run(acts.send, notice)
        assert (again.status, again.detail) == ("sent", "found after a retry")
        assert len(slack_api.messages(slack_api.im_channel(slack_user["id"]))) == 1
    finally:
        if slack is not None:
            await slack.close()


# --- the real stack --------------------------------------------------------------------------


async def test_a_handoff_dm_reaches_slack_once(
    worker: None, client: Client, engine: AsyncEngine, settings: Settings, slack_api: FakeSlack
) -> None:
    slack_user = slack_api.add_user("Eve")
    eve = await make_user(engine, f"eve{uuid.uuid4().hex[:4]}", slack=slack_user["id"])
    zed = await make_user(engine)
    now = datetime.now(UTC)
    schedule = await make_schedule(
        engine, [layer([zed.id], now - timedelta(days=2), days=1)], handoffs=True
    )
    start = now + timedelta(seconds=2)
    await add_override(engine, schedule.id, eve.id, start, start + timedelta(hours=1))
    await replan_handoffs(client, settings.task_queue, schedule.id)
    dm = slack_api.im_channel(slack_user["id"])
    [message] = await eventually(lambda: slack_api.messages(dm), "the handoff DM")
    assert f"on call for {schedule.name}" in message["text"]
    assert message["metadata"]["event_payload"]["schedule_id"] == schedule.id

    async def recorded() -> list[Notification] | None:
        async with session_scope(engine) as session:
            rows = (
                await session.exec(
                    select(Notification).where(Notification.incident_id == schedule.id)
                )
            ).all()
        return list(rows) if rows and all(r.status != "sending" for r in rows) else None

    [row] = await eventually(recorded, "the outcome recorded")
    assert (row.user_id, row.channel, row.status) == (eve.id, "slack", "sent")
    # Deleting the schedule ends its workflow.
    await delete_schedule(engine, schedule.id)
    await replan_handoffs(client, settings.task_queue, schedule.id)
    handle = client.get_workflow_handle(handoffs_workflow_id(schedule.id))
    assert await asyncio.wait_for(handle.result(), 10) == 1
    assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
    assert len(slack_api.messages(dm)) == 1
