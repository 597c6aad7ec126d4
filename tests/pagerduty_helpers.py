"""What the PagerDuty endpoint tests share: integrations, PagerDuty's error bodies, and
reading the incidents an event opened (PagerDuty's answers carry no incident id, and its
API is asynchronous, so tests wait for the read side)."""

import asyncio
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from models.db import session_scope
from models.provisioning import create_integration
from tests.conftest import Tenant, make_api_key

INVALID = {"status": "invalid event", "message": "Event object is invalid"}
THROTTLED = {
    "status": "throttle event",
    "message": "Requests for this service are arriving too quickly. Please retry later.",
}


def assert_invalid(response: httpx.Response, errors: list[str], status: int = 400) -> None:
    assert response.status_code == status, response.text
    assert response.json() == {**INVALID, "errors": errors}, response.json()


async def add_integration(
    engine: AsyncEngine, service_id: str, integration_type: str = "events"
) -> tuple[str, str]:
    """A new integration on the service: (id, key)."""
    async with session_scope(engine) as session:
        integration, key = await create_integration(
            session, service_id, f"pd-{integration_type}", type=integration_type
        )
    return integration.id, key


async def revoke(http: httpx.AsyncClient, engine: AsyncEngine, service_id: str, id_: str) -> None:
    admin = await make_api_key(engine, ["admin"])
    response = await http.delete(
        f"/api/services/{service_id}/integrations/{id_}",
        headers={"Authorization": f"Bearer {admin}"},
    )
    assert response.status_code == 200, response.text


async def incidents_of(http: httpx.AsyncClient, tenant: Tenant) -> list[dict[str, Any]]:
    response = await http.get(
        "/api/incidents",
        params={"serviceId": tenant.service_id, "limit": 200},
        headers=tenant.bearer,
    )
    assert response.status_code == 200, response.text
    return list(response.json()["incidents"])


async def incident_for(
    http: httpx.AsyncClient, tenant: Tenant, dedup_key: str, **expect: Any
) -> dict[str, Any]:
    """The newest incident of the tenant's service with this dedup key, once it shows the
    expected fields (e.g. ``status="ACKNOWLEDGED"``, ``alertCount=2``), with its alerts."""
    detail: dict[str, Any] = {}
    for _ in range(150):
        found = [i for i in await incidents_of(http, tenant) if i["dedupKey"] == dedup_key]
        if found:
            response = await http.get(f"/api/incidents/{found[0]['id']}", headers=tenant.bearer)
            detail = response.json()
            if all(detail.get(name) == value for name, value in expect.items()):
                return detail
        await asyncio.sleep(0.1)
    raise AssertionError(f"no incident for {dedup_key} with {expect}; last seen {detail}")
