"""Exactly once across a crash: the worker (a real subprocess) is killed with SIGKILL while
Slack has a page but the worker has not recorded it, and again mid-delay; after restarts
every step fired once, and on time (real dev server, real timers)."""

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select
from temporalio.client import Client

from models import Incident, Notification
from models.db import session_scope
from tests.app_server import tocsin_env
from tests.chaos.processes import Proc, Processes
from tests.conftest import Tenant, new_key
from tests.fakes.slack_api import FakeSlack
from tests.paging_helpers import give_policy, make_user
from tocsin.settings import Settings
from web.commands import IncidentCommands
from web.queries import timeline_entries
from workflows.messages import AlertIn, ChangeIn, Status

STEP_DELAY = timedelta(minutes=1)
# Timers fire on the server; the worker restarted mid-delay is polling long before the step
# is due, so lateness is the timer's and the workflow task's (well under 1 s when idle).
# The bound is the 2 s plus what a loaded 2-core machine adds.
ON_TIME = timedelta(seconds=10)


@pytest.fixture
def worker_process(settings: Settings, procs: Processes) -> tuple[str, Callable[[], Proc]]:
    queue = f"crash-{uuid.uuid4().hex[:8]}"
    worker = procs.tocsin("worker", tocsin_env(settings, TOCSIN_TASK_QUEUE=queue))
    return queue, worker.start


async def wait_for(check: Callable[[], bool], seconds: float, what: str) -> None:
    for _ in range(int(seconds / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


async def test_kill_9_mid_escalation_pages_each_step_once_and_on_time(
    client: Client,
    engine: AsyncEngine,
    tenant: Tenant,
    slack_api: FakeSlack,
    worker_process: tuple[str, Callable[[], Proc]],
    record_property: Callable[[str, Any], None],
) -> None:
    queue, start = worker_process
    first = slack_api.add_user("first")
    second = slack_api.add_user("second")
    a = await make_user(engine, "first", slack=first["id"], rules={"HIGH": ["slack"]})
    b = await make_user(engine, "second", slack=second["id"], rules={"HIGH": ["slack"]})
    minutes = int(STEP_DELAY.total_seconds() // 60)
    steps = [(minutes, [("user", a.id)]), (0, [("user", b.id)])]
    await give_policy(engine, tenant.service_id, steps)

    def dms_to(user: dict) -> list:
        im = slack_api.im_channel(user["id"])
        return [
            c
            for c in slack_api.calls_of("chat.postMessage")
            if c.params.get("channel") in (user["id"], im)
        ]

    slack_api.hold("chat.postMessage")
    proc = start()
    commands = IncidentCommands(client, queue)
    alert = AlertIn(
        summary="db down", source="t", severity="critical", received_at=datetime.now(UTC)
    )
    outcome = await commands.trigger(tenant.service_id, new_key(), alert)

    # Slack has stored the first page; the worker is waiting for Slack's answer: kill it.
    await wait_for(lambda: len(dms_to(first)) == 1, 30, "the first page reached Slack")
    proc.kill()
    slack_api.release("chat.postMessage")
    proc = start()

    # The activity's attempt times out (15 s) and is retried by the new worker, which finds
    # the message in the conversation and does not post it again.
    async def first_recorded() -> bool:
        async with session_scope(engine) as session:
            rows = (
                await session.exec(
                    select(Notification).where(Notification.incident_id == outcome.incident_id)
                )
            ).all()
        return any(r.user_id == a.id and r.status == "sent" for r in rows)

    for _ in range(600):
        if await first_recorded():
            break
        await asyncio.sleep(0.1)
    assert await first_recorded()
    assert len(dms_to(first)) == 1

    # Mid-delay: kill again, restart; the timer lives on the server.
    proc.kill()
    await asyncio.sleep(2)
    proc = start()
    await wait_for(lambda: len(dms_to(second)) >= 1, 120, "the second step's page")
    await asyncio.sleep(3)  # nothing else may arrive
    assert len(dms_to(first)) == 1 and len(dms_to(second)) == 1

    fired = await timeline_entries(engine, outcome.incident_id, kinds=("escalation",))
    assert len(fired) == 2
    lateness = fired[1].at - fired[0].at - STEP_DELAY
    record_property("step_lateness_s", round(lateness.total_seconds(), 2))
    assert timedelta(0) <= lateness < ON_TIME, lateness
    async with session_scope(engine) as session:
        rows = (
            await session.exec(
                select(Notification).where(Notification.incident_id == outcome.incident_id)
            )
        ).all()
    pages = {r.user_id: r for r in rows if r.purpose == "page"}
    assert pages[a.id].status == "sent" and pages[a.id].detail == "found after a retry"
    assert pages[b.id].status == "sent" and pages[b.id].attempts == 1
    # Resolved while a worker polls its queue, so no later test waits on it.
    async with session_scope(engine) as session:
        row = await session.get(Incident, outcome.incident_id)
    assert row is not None
    await commands.change(row.workflow_id, row.id, ChangeIn(status=Status.RESOLVED))
    proc.kill()
