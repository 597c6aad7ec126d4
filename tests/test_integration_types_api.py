"""Integration types, options and signing secrets through the management API, and keys
working only at their own type's endpoints."""

import uuid

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from models import Integration
from models.db import session_scope
from tests.conftest import make_api_key, new_key, trigger_body
from tocsin.secret_box import unseal
from tocsin.settings import Settings


@pytest.fixture
async def admin(engine: AsyncEngine) -> dict[str, str]:
    return {"Authorization": f"Bearer {await make_api_key(engine, ['admin'])}"}


async def new_service(http: httpx.AsyncClient, admin: dict[str, str]) -> str:
    name = f"svc-{uuid.uuid4().hex[:8]}"
    response = await http.post("/api/services", json={"name": name}, headers=admin)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_events_integration_by_default_with_its_url(
    http: httpx.AsyncClient, admin: dict[str, str], settings: Settings
) -> None:
    service = await new_service(http, admin)
    created = await http.post(
        f"/api/services/{service}/integrations", json={"name": "curl"}, headers=admin
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["type"] == "events" and body["config"] == {} and body["signed"] is False
    assert body["url"] == f"{settings.public_url}/v2/enqueue"


async def test_native_integration_url_carries_the_key(
    http: httpx.AsyncClient, admin: dict[str, str], settings: Settings
) -> None:
    service = await new_service(http, admin)
    created = await http.post(
        f"/api/services/{service}/integrations",
        json={"name": "am", "type": "alertmanager"},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["type"] == "alertmanager"
    assert body["url"] == (
        f"{settings.public_url}/api/integrations/alertmanager/{body['integrationKey']}"
    )
    listing = await http.get(f"/api/services/{service}/integrations", headers=admin)
    [listed] = listing.json()["integrations"]
    assert listed["type"] == "alertmanager" and "url" not in listed


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "type": "nagios"}, "type"),
        ({"name": "x", "type": "events", "config": {"groupBy": "group"}}, "config"),
        ({"name": "x", "type": "alertmanager", "config": {"noSuch": 1}}, "config.noSuch"),
        ({"name": "x", "type": "events", "signingSecret": "long-enough-secret"}, "signingSecret"),
    ],
)  # fmt: skip
async def test_bad_type_config_or_secret_is_refused(
    http: httpx.AsyncClient, admin: dict[str, str], body: dict, field: str
) -> None:
    service = await new_service(http, admin)
    response = await http.post(f"/api/services/{service}/integrations", json=body, headers=admin)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] == field
    listing = await http.get(f"/api/services/{service}/integrations", headers=admin)
    assert listing.json()["integrations"] == []


async def test_signing_secret_is_sealed_set_and_cleared(
    http: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine, settings: Settings
) -> None:
    service = await new_service(http, admin)
    created = await http.post(
        f"/api/services/{service}/integrations",
        json={"name": "grafana", "type": "grafana", "signingSecret": "s3cret-from-grafana"},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    integration_id = created.json()["id"]
    assert created.json()["signed"] is True and "signingSecret" not in created.json()
    async with session_scope(engine) as session:
        row = await session.get(Integration, integration_id)
        assert row is not None and row.signing_secret is not None
        assert "s3cret-from-grafana" not in row.signing_secret
        assert unseal(settings, row.signing_secret) == "s3cret-from-grafana"

    path = f"/api/services/{service}/integrations/{integration_id}"
    too_short = await http.patch(path, json={"signingSecret": "short"}, headers=admin)
    assert too_short.status_code == 400 and too_short.json()["error"]["field"] == "signingSecret"
    renamed = await http.patch(path, json={"name": "grafana-prod"}, headers=admin)
    assert renamed.status_code == 200 and renamed.json()["name"] == "grafana-prod"
    assert renamed.json()["signed"] is True
    cleared = await http.patch(path, json={"signingSecret": ""}, headers=admin)
    assert cleared.status_code == 200 and cleared.json()["signed"] is False
    missing = await http.patch(
        f"/api/services/{service}/integrations/int_nope", json={"name": "x"}, headers=admin
    )
    assert missing.status_code == 404


async def test_a_key_works_only_at_its_own_types_endpoints(
    http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    service = await new_service(http, admin)
    events_key = (
        await http.post(
            f"/api/services/{service}/integrations", json={"name": "curl"}, headers=admin
        )
    ).json()["integrationKey"]
    am_key = (
        await http.post(
            f"/api/services/{service}/integrations",
            json={"name": "am", "type": "alertmanager"},
            headers=admin,
        )
    ).json()["integrationKey"]

    native = await http.post(f"/api/integrations/alertmanager/{events_key}", json={"alerts": []})
    assert native.status_code == 404
    assert native.json()["error"]["code"] == "INTEGRATION_NOT_FOUND"
    other_type = await http.post(f"/api/integrations/grafana/{am_key}", json={"alerts": []})
    assert other_type.status_code == 404
    unknown_type = await http.post(f"/api/integrations/nagios/{am_key}", json={})
    assert unknown_type.status_code == 404
    events = await http.post(
        "/api/events",
        json=trigger_body(new_key()),
        headers={"Authorization": f"Token token={am_key}"},
    )
    assert events.status_code == 403
    incidents = await http.get("/api/incidents", params={"serviceId": service}, headers=admin)
    assert incidents.json()["incidents"] == []
