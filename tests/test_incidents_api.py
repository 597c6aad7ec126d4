"""GET /api/incidents and /api/incidents/:id (seed 003, read half)."""

import asyncio

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import Tenant, make_api_key, make_tenant, new_key, trigger_body


async def open_incidents(http: httpx.AsyncClient, tenant: Tenant, n: int) -> list[str]:
    ids = []
    for _ in range(n):
        r = await http.post("/api/events", json=trigger_body(new_key()), headers=tenant.token)
        ids.append(r.json()["incident_key"])
    return ids


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_list_newest_first_with_filters_and_pages(
    http: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    tenant = await make_tenant(engine)
    ids = await open_incidents(http, tenant, 5)
    ack_key = new_key()
    acked = await http.post("/api/events", json=trigger_body(ack_key), headers=tenant.token)
    await http.post(
        "/api/events",
        json={"event_action": "acknowledge", "dedup_key": ack_key},
        headers=tenant.token,
    )
    base = {"serviceId": tenant.service_id}

    listing = (await http.get("/api/incidents", params=base, headers=tenant.bearer)).json()
    assert listing["total"] == 6
    assert [i["id"] for i in listing["incidents"]] == [acked.json()["incident_key"], *ids[::-1]]
    first = listing["incidents"][0]
    assert set(first) >= {
        "id", "title", "description", "status", "urgency", "priority", "service", "assignee",
        "dedupKey", "alertCount", "createdAt", "acknowledgedAt", "resolvedAt",
    }  # fmt: skip

    for status in ("triggered", "OPEN", "open", "Triggered"):
        page = (
            await http.get(
                "/api/incidents", params=base | {"status": status}, headers=tenant.bearer
            )
        ).json()
        assert page["total"] == 5 and all(i["status"] == "OPEN" for i in page["incidents"])
    page = (
        await http.get(
            "/api/incidents", params=base | {"status": "acknowledged"}, headers=tenant.bearer
        )
    ).json()
    assert [i["id"] for i in page["incidents"]] == [acked.json()["incident_key"]]

    seen: list[str] = []
    cursor = None
    while True:
        params = base | {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await http.get("/api/incidents", params=params, headers=tenant.bearer)).json()
        seen += [i["id"] for i in page["incidents"]]
        assert page["total"] == 6
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == [i["id"] for i in listing["incidents"]]


async def test_limit_default_and_cap(http: httpx.AsyncClient, tenant: Tenant) -> None:
    await open_incidents(http, tenant, 1)
    capped = await http.get("/api/incidents", params={"limit": 5000}, headers=tenant.bearer)
    assert capped.status_code == 200
    assert len(capped.json()["incidents"]) <= 200
    default = (await http.get("/api/incidents", headers=tenant.bearer)).json()
    assert len(default["incidents"]) <= 50


@pytest.mark.parametrize(
    ("params", "field"),
    [({"limit": "abc"}, "limit"), ({"limit": 0}, "limit"), ({"status": "exploded"}, "status"),
     ({"cursor": "%%%"}, "cursor")],
)  # fmt: skip
async def test_bad_query_is_400(
    http: httpx.AsyncClient, tenant: Tenant, params: dict, field: str
) -> None:
    response = await http.get("/api/incidents", params=params, headers=tenant.bearer)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "INVALID_REQUEST"
    assert response.json()["error"]["field"] == field


async def test_detail_has_alerts_and_unknown_is_404(
    http: httpx.AsyncClient, tenant: Tenant
) -> None:
    key = new_key()
    first = await http.post("/api/events", json=trigger_body(key, "one"), headers=tenant.token)
    await http.post("/api/events", json=trigger_body(key, "two"), headers=tenant.token)
    incident_id = first.json()["incident_key"]
    for _ in range(50):
        detail = (await http.get(f"/api/incidents/{incident_id}", headers=tenant.bearer)).json()
        if len(detail["alerts"]) == 2:
            break
        await asyncio.sleep(0.1)
    assert [a["summary"] for a in detail["alerts"]] == ["one", "two"]
    assert [a["seq"] for a in detail["alerts"]] == [1, 2]
    missing = await http.get("/api/incidents/inc_nope", headers=tenant.bearer)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "NOT_FOUND"


async def test_restricted_key_never_sees_other_services(
    http: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    mine, theirs = await make_tenant(engine), await make_tenant(engine)
    [my_incident] = await open_incidents(http, mine, 1)
    [their_incident] = await open_incidents(http, theirs, 1)
    key = bearer(await make_api_key(engine, ["incidents:read"], [mine.service_id]))

    listing = (await http.get("/api/incidents", params={"limit": 200}, headers=key)).json()
    assert {i["service"]["id"] for i in listing["incidents"]} == {mine.service_id}
    assert listing["total"] == 1
    assert (await http.get(f"/api/incidents/{my_incident}", headers=key)).status_code == 200
    hidden = await http.get(f"/api/incidents/{their_incident}", headers=key)
    assert hidden.status_code == 404
    denied = await http.get("/api/incidents", params={"serviceId": theirs.service_id}, headers=key)
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "SERVICE_ACCESS_DENIED"


async def test_auth_and_scope(http: httpx.AsyncClient, engine: AsyncEngine, tenant: Tenant) -> None:
    assert (await http.get("/api/incidents")).status_code == 401
    # An integration key sends events; it cannot read incidents.
    assert (await http.get("/api/incidents", headers=tenant.token)).status_code == 401
    writer = bearer(await make_api_key(engine, ["events:write"]))
    response = await http.get("/api/incidents", headers=writer)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "MISSING_SCOPE"
    admin = bearer(await make_api_key(engine, ["admin"]))
    assert (await http.get("/api/incidents", headers=admin)).status_code == 200


async def test_openapi_document_lists_the_api(http: httpx.AsyncClient) -> None:
    spec = (await http.get("/openapi.json")).json()
    assert {"/api/events", "/api/incidents", "/api/incidents/{incident_id}"} <= set(spec["paths"])
