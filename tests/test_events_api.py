"""POST /api/events through real HTTP, the real workflow and the real read side."""

import asyncio

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from models import Alert
from models.db import session_scope
from tests.conftest import Tenant, make_tenant, new_key, trigger_body
from workflows import search_attributes as sa
from workflows.ids import incident_workflow_id


async def post(
    http: httpx.AsyncClient, tenant: Tenant, body: dict, **headers: str
) -> httpx.Response:
    return await http.post("/api/events", json=body, headers={**tenant.token, **headers})


async def get_incident(http: httpx.AsyncClient, tenant: Tenant, incident_id: str) -> dict:
    response = await http.get(f"/api/incidents/{incident_id}", headers=tenant.bearer)
    assert response.status_code == 200, response.text
    return response.json()


async def test_full_lifecycle(http: httpx.AsyncClient, tenant: Tenant) -> None:
    key = new_key()
    first = await post(http, tenant, trigger_body(key, "CPU high", "warning"))
    assert first.status_code == 202
    body = first.json()
    incident_id = body["incident_key"]
    assert body["status"] == "success" and body["message"] == "Event processed"
    assert body["dedup_key"] == key
    assert body["result"] == {
        "action": "triggered",
        "incident": {"id": incident_id, "title": "CPU high", "status": "OPEN", "urgency": "MEDIUM"},
    }
    # Read-your-writes: readable as soon as the 202 arrived.
    incident = await get_incident(http, tenant, incident_id)
    assert incident["status"] == "OPEN" and incident["alertCount"] == 1

    second = await post(http, tenant, trigger_body(key, "CPU higher", "critical"))
    assert second.json()["result"]["action"] == "deduplicated"
    assert second.json()["incident_key"] == incident_id

    ack = await post(http, tenant, {"event_action": "acknowledge", "dedup_key": key})
    assert ack.status_code == 202
    assert ack.json()["result"]["action"] == "acknowledged"
    assert ack.json()["result"]["incident"]["status"] == "ACKNOWLEDGED"
    incident = await get_incident(http, tenant, incident_id)
    assert incident["status"] == "ACKNOWLEDGED"
    assert incident["escalationStatus"] == "COMPLETED"
    assert incident["acknowledgedAt"] is not None
    assert incident["alertCount"] == 2
    assert incident["title"] == "CPU higher"
    assert incident["urgency"] == "HIGH"  # raised by the critical alert

    again = await post(http, tenant, {"event_action": "acknowledge", "dedup_key": key})
    assert again.json()["result"]["action"] == "acknowledged"  # idempotent

    # A trigger on an acknowledged incident deduplicates and leaves it acknowledged.
    third = await post(http, tenant, trigger_body(key))
    assert third.json()["result"]["action"] == "deduplicated"
    assert third.json()["result"]["incident"]["status"] == "ACKNOWLEDGED"

    resolved = await post(http, tenant, {"event_action": "resolve", "dedup_key": key})
    assert resolved.json()["result"]["action"] == "resolved"
    incident = await get_incident(http, tenant, incident_id)
    assert incident["status"] == "RESOLVED" and incident["resolvedAt"] is not None

    late_ack = await post(http, tenant, {"event_action": "acknowledge", "dedup_key": key})
    assert late_ack.json()["result"] == {"action": "ignored", "incident": None}

    reopened = await post(http, tenant, trigger_body(key))
    assert reopened.json()["result"]["action"] == "triggered"
    assert reopened.json()["incident_key"] != incident_id
    assert (await get_incident(http, tenant, incident_id))["status"] == "RESOLVED"


async def test_ack_and_resolve_without_incident_are_ignored(
    http: httpx.AsyncClient, tenant: Tenant
) -> None:
    for action in ("acknowledge", "resolve"):
        response = await post(http, tenant, {"event_action": action, "dedup_key": new_key()})
        assert response.status_code == 202
        assert response.json()["result"] == {"action": "ignored", "incident": None}
        assert response.json()["incident_key"] is None


async def test_same_dedup_key_on_two_services_gives_two_incidents(
    http: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    a, b = await make_tenant(engine), await make_tenant(engine)
    key = new_key()
    ra = await post(http, a, trigger_body(key))
    rb = await post(http, b, trigger_body(key))
    assert ra.json()["result"]["action"] == rb.json()["result"]["action"] == "triggered"
    assert ra.json()["incident_key"] != rb.json()["incident_key"]


async def test_fifty_concurrent_triggers_make_one_incident(
    http: httpx.AsyncClient, tenant: Tenant, engine: AsyncEngine
) -> None:
    key = new_key()
    responses = await asyncio.gather(*(post(http, tenant, trigger_body(key)) for _ in range(50)))
    assert all(r.status_code == 202 for r in responses)
    actions = [r.json()["result"]["action"] for r in responses]
    assert actions.count("triggered") == 1 and actions.count("deduplicated") == 49
    ids = {r.json()["incident_key"] for r in responses}
    assert len(ids) == 1
    incident_id = ids.pop()
    for _ in range(100):
        incident = await get_incident(http, tenant, incident_id)
        if incident["alertCount"] == 50:
            break
        await asyncio.sleep(0.1)
    assert incident["alertCount"] == 50
    async with session_scope(engine) as session:
        stored = (
            await session.execute(
                select(func.count()).select_from(Alert).where(Alert.incident_id == incident_id)
            )
        ).scalar_one()
    assert stored == 50


async def test_idempotency_key_retry_counts_once(http: httpx.AsyncClient, tenant: Tenant) -> None:
    key = new_key()
    body = trigger_body(key)
    first = await post(http, tenant, body, **{"Idempotency-Key": "retry-1"})
    retry = await post(http, tenant, body, **{"Idempotency-Key": "retry-1"})
    other = await post(http, tenant, body, **{"Idempotency-Key": "retry-2"})
    assert (
        first.json()["incident_key"] == retry.json()["incident_key"] == other.json()["incident_key"]
    )
    incident_id = first.json()["incident_key"]
    for _ in range(100):  # the count is projected after the answers (a loaded machine: later)
        if (await get_incident(http, tenant, incident_id))["alertCount"] >= 2:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.3)  # a wrongly counted retry would have been projected by now
    incident = await get_incident(http, tenant, incident_id)
    assert incident["alertCount"] == 2


async def test_alert_stores_raw_payload_and_description(
    http: httpx.AsyncClient, tenant: Tenant
) -> None:
    body = trigger_body(new_key())
    body["payload"]["custom_details"] = {"host": "web-01", "cpu_percent": 95.5}
    body["payload"]["component"] = "cpu"
    body["something_unknown"] = {"ignored": True}
    response = await post(http, tenant, body)
    assert response.status_code == 202
    incident = await get_incident(http, tenant, response.json()["incident_key"])
    assert incident["description"] == '{\n  "cpu_percent": 95.5,\n  "host": "web-01"\n}'
    assert incident["dedupKey"] == body["dedup_key"]
    assert incident["service"] == {"id": tenant.service_id, "name": tenant.service_name}
    assert [a["payload"] for a in incident["alerts"]] == [body["payload"]]


async def test_ack_accepts_payload_and_bearer_with_service_id(
    http: httpx.AsyncClient, tenant: Tenant
) -> None:
    key = new_key()
    body = trigger_body(key) | {"service_id": tenant.service_id}
    assert (await http.post("/api/events", json=body, headers=tenant.bearer)).status_code == 202
    ack = {
        "event_action": "acknowledge",
        "dedup_key": key,
        "service_id": tenant.service_id,
        "payload": {"summary": "Acknowledged via API", "source": "automation", "severity": "info"},
    }
    response = await http.post("/api/events", json=ack, headers=tenant.bearer)
    assert response.json()["result"]["action"] == "acknowledged"


async def test_search_attributes_find_the_run(
    http: httpx.AsyncClient, tenant: Tenant, client: Client
) -> None:
    key = new_key("find me/✓")
    await post(http, tenant, trigger_body(key, severity="info"))
    await post(http, tenant, {"event_action": "acknowledge", "dedup_key": key})
    handle = client.get_workflow_handle(incident_workflow_id(tenant.service_id, key))
    attrs = (await handle.describe()).typed_search_attributes
    assert attrs.get(sa.SERVICE_ID) == tenant.service_id
    assert attrs.get(sa.DEDUP_KEY) == key
    assert attrs.get(sa.STATUS) == "ACKNOWLEDGED"
    assert attrs.get(sa.URGENCY) == "LOW"
