"""A trigger matching a suppression rule opens a SUPPRESSED incident: recorded, deduplicated,
visible, never escalated; acknowledge and resolve still act on it."""

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import Tenant, make_api_key, new_key, trigger_body


async def test_matching_trigger_is_suppressed(
    http: httpx.AsyncClient, engine: AsyncEngine, tenant: Tenant
) -> None:
    admin = {"Authorization": f"Bearer {await make_api_key(engine, ['admin'])}"}
    rule = await http.post(
        f"/api/services/{tenant.service_id}/suppression-rules",
        json={"name": "maintenance noise", "summaryContains": "maintenance"},
        headers=admin,
    )
    assert rule.status_code == 201, rule.text
    key = new_key()
    body = trigger_body(key, "Planned MAINTENANCE reboot")
    first = await http.post("/api/events", json=body, headers=tenant.token)
    assert first.json()["result"]["action"] == "triggered"
    assert first.json()["result"]["incident"]["status"] == "SUPPRESSED"
    incident_id = first.json()["incident_key"]

    again = await http.post("/api/events", json=body, headers=tenant.token)
    assert again.json()["result"]["action"] == "deduplicated"
    assert again.json()["result"]["incident"]["status"] == "SUPPRESSED"
    detail = (await http.get(f"/api/incidents/{incident_id}", headers=admin)).json()
    assert detail["status"] == "SUPPRESSED" and detail["escalationStatus"] == "COMPLETED"
    assert detail["suppressedBy"] == rule.json()["id"]
    listed = await http.get(
        "/api/incidents",
        params={"serviceId": tenant.service_id, "status": "suppressed"},
        headers=admin,
    )
    assert [i["id"] for i in listed.json()["incidents"]] == [incident_id]
    timeline = (await http.get(f"/api/incidents/{incident_id}/timeline", headers=admin)).json()
    assert rule.json()["id"] in timeline["timeline"][1]["message"]

    other = await http.post(
        "/api/events", json=trigger_body(new_key(), "CPU"), headers=tenant.token
    )
    assert other.json()["result"]["incident"]["status"] == "OPEN"

    resolved = await http.post(
        "/api/events", json={"event_action": "resolve", "dedup_key": key}, headers=tenant.token
    )
    assert resolved.json()["result"]["action"] == "resolved"
