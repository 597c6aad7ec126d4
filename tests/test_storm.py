"""Alert storms on one key, against the dev server (which enforces the real limits).

The session's dev server suggests continue-as-new after 60 history events, so a few hundred
events roll the run over several times.
"""

import asyncio

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from models import Alert
from models.db import session_scope
from models.provisioning import create_integration
from tests.conftest import Tenant, new_key, trigger_body
from workflows.ids import incident_workflow_id

STORM = 300


async def test_storm_continues_as_new_without_losing_anything(
    http: httpx.AsyncClient, tenant: Tenant, client: Client, engine: AsyncEngine
) -> None:
    key = new_key("storm")
    gate = asyncio.Semaphore(30)
    # Three integrations of one service, so the per-key rate limit (120/min) is not hit.
    tokens = [tenant.token]
    async with session_scope(engine) as session:
        for n in range(2):
            _, extra = await create_integration(session, tenant.service_id, f"storm-{n}")
            tokens.append({"Authorization": f"Token token={extra}"})

    answered = 0
    first_answer = asyncio.Event()

    async def send(i: int) -> httpx.Response:
        nonlocal answered
        async with gate:
            body = trigger_body(key, f"storm alert {i}")
            response = await http.post("/api/events", json=body, headers=tokens[i % 3])
        answered += 1
        first_answer.set()
        return response

    async def acknowledge_midway() -> tuple[int, httpx.Response]:
        # Once the incident exists (a first trigger was answered), not after a fixed pause:
        # on a loaded machine no trigger may have been answered yet after half a second.
        await first_answer.wait()
        return answered, await http.post(
            "/api/events",
            json={"event_action": "acknowledge", "dedup_key": key},
            headers=tenant.token,
        )

    storm = asyncio.gather(*(send(i) for i in range(STORM)))
    (answered_before_ack, ack), responses = await asyncio.gather(acknowledge_midway(), storm)
    assert answered_before_ack < STORM, "the acknowledge went out during the storm"
    assert all(r.status_code == 202 for r in responses)
    assert ack.json()["result"]["action"] == "acknowledged"
    actions = [r.json()["result"]["action"] for r in responses]
    assert actions.count("triggered") == 1
    ids = {r.json()["incident_key"] for r in responses}
    assert len(ids) == 1, "the incident id is stable across continue-as-new"
    incident_id = ids.pop()

    for _ in range(200):
        detail = (await http.get(f"/api/incidents/{incident_id}", headers=tenant.bearer)).json()
        if detail["alertCount"] == STORM:
            break
        await asyncio.sleep(0.1)
    assert detail["alertCount"] == STORM
    assert detail["status"] == "ACKNOWLEDGED"
    async with session_scope(engine) as session:
        stored = (
            await session.execute(
                select(func.count(func.distinct(Alert.seq))).where(Alert.incident_id == incident_id)
            )
        ).scalar_one()
    assert stored == STORM

    handle = client.get_workflow_handle(incident_workflow_id(tenant.service_id, key))
    info = (await handle.describe()).raw_description.workflow_execution_info
    assert info.execution.run_id != info.first_run_id, "the storm continued as new"
    assert info.history_length < 200, "each run's history stays bounded"

    resolved = await http.post(
        "/api/events", json={"event_action": "resolve", "dedup_key": key}, headers=tenant.token
    )
    assert resolved.json()["result"]["action"] == "resolved"
    assert resolved.json()["incident_key"] == incident_id
