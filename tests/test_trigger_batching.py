"""Concurrent triggers for one incident share SignalWithStart calls, and lose nothing."""

import asyncio
from datetime import UTC, datetime

import httpx
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from tests.conftest import Tenant, new_key, trigger_body
from web.trigger_batching import Batch, TriggerBatcher
from workflows.ids import incident_workflow_id
from workflows.messages import AlertIn


async def settled(http: httpx.AsyncClient, tenant: Tenant, incident_id: str, count: int) -> dict:
    for _ in range(200):
        found = await http.get(f"/api/incidents/{incident_id}", headers=tenant.bearer)
        if found.status_code == 200 and found.json()["alertCount"] >= count:
            return dict(found.json())
        await asyncio.sleep(0.05)
    raise AssertionError(f"alertCount never reached {count}")


async def test_a_burst_on_one_key_is_one_incident_with_every_alert_in_fewer_signals(
    http: httpx.AsyncClient, client: Client, tenant: Tenant
) -> None:
    key = new_key("storm")
    burst = 100  # within the per-key rate limit (120 a minute)
    answers = await asyncio.gather(
        *(
            http.post("/api/events", json=trigger_body(key, f"CPU {n}"), headers=tenant.token)
            for n in range(burst)
        )
    )
    assert {a.status_code for a in answers} == {202}
    actions = [a.json()["result"]["action"] for a in answers]
    assert actions.count("triggered") == 1
    assert actions.count("deduplicated") == burst - 1
    ids = {a.json()["incident_key"] for a in answers}
    assert len(ids) == 1

    incident = await settled(http, tenant, ids.pop(), burst)
    assert incident["alertCount"] == burst

    history = await client.get_workflow_handle(
        incident_workflow_id(tenant.service_id, key)
    ).fetch_history()
    signals = [
        e
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    ]
    assert 1 <= len(signals) < burst, "concurrent alerts were not coalesced"


async def test_concurrent_retries_with_one_idempotency_key_count_once(
    http: httpx.AsyncClient, tenant: Tenant
) -> None:
    key = new_key("retry")
    first = await http.post("/api/events", json=trigger_body(key), headers=tenant.token)
    headers = tenant.token | {"Idempotency-Key": new_key("idem")}
    retries = await asyncio.gather(
        *(http.post("/api/events", json=trigger_body(key), headers=headers) for _ in range(20))
    )
    assert {r.status_code for r in retries} == {202}
    await settled(http, tenant, first.json()["incident_key"], 2)
    await asyncio.sleep(0.3)  # a wrongly counted retry would have been projected by now
    incident = await settled(http, tenant, first.json()["incident_key"], 2)
    assert incident["alertCount"] == 2


def alert(n: int) -> AlertIn:
    return AlertIn(
        summary=f"alert {n}",
        source="test",
        severity="critical",
        received_at=datetime(2026, 1, 1, tzinfo=UTC),
        actor="test",
    )


async def test_a_failed_call_fails_every_caller_of_its_batch_and_the_next_batch_goes_on() -> None:
    batcher: TriggerBatcher[int] = TriggerBatcher(pydantic_data_converter)
    release = asyncio.Event()
    calls: list[int] = []

    async def send(batch: Batch) -> int:
        calls.append(batch.size)
        if len(calls) == 1:
            await release.wait()
            return 1
        if len(calls) == 2:
            raise RuntimeError("Temporal unavailable")
        return 3

    first = asyncio.create_task(batcher.submit("wf", alert(0), send))
    await asyncio.sleep(0)
    waiting = [asyncio.create_task(batcher.submit("wf", alert(n), send)) for n in (1, 2, 3)]
    await asyncio.sleep(0)
    release.set()
    assert await first == (1, 0)
    for task in waiting:
        with pytest.raises(RuntimeError, match="Temporal unavailable"):
            await task
    assert calls == [1, 3]
    assert await batcher.submit("wf", alert(4), send) == (3, 0)
