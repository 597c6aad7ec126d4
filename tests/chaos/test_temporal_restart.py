"""The Temporal dev server stopped mid-escalation (SIGTERM, then later ``kill -9``) and
started again on its persisted database, same port: every open incident and its escalation
timer resumes; none is lost or duplicated, no page is repeated, the delayed step is on time.

The server is the test's own (the session's is never stopped); the worker is a real process
that must ride out both outages without a restart.
"""

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from models import Incident
from models.db import session_scope
from tests.app_server import tocsin_env
from tests.chaos.processes import Proc, Processes, wait_until
from tests.conftest import Tenant, free_port, new_key
from tests.fakes.slack_api import FakeSlack
from tests.paging_helpers import give_policy, make_user
from tocsin.settings import Settings
from tocsin.temporal import connect
from web.commands import IncidentCommands
from web.queries import timeline_entries
from workflows.messages import AlertIn, ChangeIn, Status

INCIDENTS = 4
STEP_DELAY = timedelta(minutes=1)
# A timer that fell due while the server was down fires when it is back; the outages here
# end long before the delay does, so this is timer accuracy plus a loaded machine's slack.
ON_TIME = timedelta(seconds=10)


def alert(summary: str) -> AlertIn:
    return AlertIn(
        summary=summary, source="chaos", severity="critical", received_at=datetime.now(UTC)
    )


async def restart(temporal: Proc, *, kill: bool) -> float:
    """Stops the server (SIGKILL or SIGTERM) and starts it again: seconds it was down."""
    began = asyncio.get_running_loop().time()
    await asyncio.to_thread(temporal.kill if kill else temporal.terminate)
    await asyncio.to_thread(temporal.start)  # returns once the port is open again
    return asyncio.get_running_loop().time() - began


async def test_temporal_restarts_mid_escalation_lose_and_repeat_nothing(
    settings: Settings,
    engine: AsyncEngine,
    tenant: Tenant,
    slack_api: FakeSlack,
    procs: Processes,
    record_property: Callable[[str, Any], None],
) -> None:
    port = free_port()
    temporal = procs.temporal(port, procs.workdir / "temporal.db")
    await asyncio.to_thread(temporal.start)
    address = f"127.0.0.1:{port}"
    queue = f"restart-{uuid.uuid4().hex[:8]}"
    procs.tocsin(
        "worker", tocsin_env(settings, TEMPORAL_ADDRESS=address, TOCSIN_TASK_QUEUE=queue)
    ).start()

    first, second = slack_api.add_user("first"), slack_api.add_user("second")
    a = await make_user(engine, "first", slack=first["id"], rules={"HIGH": ["slack"]})
    b = await make_user(engine, "second", slack=second["id"], rules={"HIGH": ["slack"]})
    minutes = int(STEP_DELAY.total_seconds() // 60)
    await give_policy(
        engine, tenant.service_id, [(minutes, [("user", a.id)]), (0, [("user", b.id)])]
    )

    def pages_to(user: dict[str, Any]) -> int:
        targets = (user["id"], slack_api.im_channel(user["id"]))
        return sum(
            1 for c in slack_api.calls_of("chat.postMessage") if c.params.get("channel") in targets
        )

    client = await connect(settings.model_copy(update={"temporal_address": address}))
    commands = IncidentCommands(client, queue)
    keys = [new_key("restart") for _ in range(INCIDENTS)]
    opened = {
        key: (await commands.trigger(tenant.service_id, key, alert(key))).incident_id
        for key in keys
    }

    async def first_pages() -> bool:
        return pages_to(first) >= INCIDENTS

    await wait_until(first_pages, 60, "the first step paged for every incident")
    down = await restart(temporal, kill=False)

    # The same keys still reach the same incidents: the dedup state survived.
    for key in keys:
        outcome = await asyncio.wait_for(
            commands.trigger(tenant.service_id, key, alert("again")), 60
        )
        assert not outcome.started and outcome.incident_id == opened[key]
    down += await restart(temporal, kill=True)
    record_property("temporal_down_s", round(down, 1))

    async def second_pages() -> bool:
        return pages_to(second) >= INCIDENTS

    await wait_until(
        second_pages, STEP_DELAY.total_seconds() + 90, "the delayed step for every incident"
    )
    await asyncio.sleep(3)  # nothing else may arrive
    assert pages_to(first) == INCIDENTS and pages_to(second) == INCIDENTS

    async with session_scope(engine) as session:
        rows = (
            await session.exec(select(Incident).where(Incident.service_id == tenant.service_id))
        ).all()
    assert sorted(r.dedup_key for r in rows) == sorted(keys), "an incident was lost or duplicated"
    lateness = []
    for row in rows:
        fired = await timeline_entries(engine, row.id, kinds=("escalation",))
        assert len(fired) == 2, fired
        lateness.append(fired[1].at - fired[0].at - STEP_DELAY)
    record_property("step_lateness_s", [round(x.total_seconds(), 2) for x in lateness])
    assert all(timedelta(0) <= x < ON_TIME for x in lateness), lateness

    for row in rows:
        await commands.change(row.workflow_id, row.id, ChangeIn(status=Status.RESOLVED))
