"""PagerDuty change events: ``POST /v2/change/enqueue``, the service's list and the
incident's recent changes, through the real API."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from models import ChangeEvent
from models.change_events import RETENTION
from models.db import session_scope
from tests.conftest import Tenant, make_api_key, make_tenant, new_key
from tests.pagerduty_helpers import (
    THROTTLED,
    add_integration,
    assert_invalid,
    incident_for,
    incidents_of,
    revoke,
)
from tocsin.keys import new_id
from tocsin.settings import Settings

ACCEPTED = {"status": "success", "message": "Change event processed"}


def change(tenant: Tenant, summary: str = "Deployed v42", **payload: Any) -> dict[str, Any]:
    return {"routing_key": tenant.integration_key, "payload": {"summary": summary, **payload}}


def iso(moment: datetime) -> str:
    return moment.isoformat()


async def post_change(http: httpx.AsyncClient, body: Any) -> httpx.Response:
    return await http.post("/v2/change/enqueue", json=body)


@pytest_asyncio.fixture
async def reader(engine: AsyncEngine) -> dict[str, str]:
    """Headers of an API key with services:read on every service."""
    return {"Authorization": f"Bearer {await make_api_key(engine, ['services:read'])}"}


async def listed(
    http: httpx.AsyncClient, tenant: Tenant, reader: dict[str, str], **params: Any
) -> list[dict[str, Any]]:
    response = await http.get(
        f"/api/services/{tenant.service_id}/change-events", params=params, headers=reader
    )
    assert response.status_code == 200, response.text
    return list(response.json()["changeEvents"])


async def test_change_event_is_stored_listed_and_opens_nothing(
    http: httpx.AsyncClient, tenant: Tenant, reader: dict[str, str]
) -> None:
    body = change(
        tenant,
        "Build Success: Increase snapshot create timeout to 30 seconds",
        source="acme-build-pipeline",
        timestamp="2030-07-17T08:42:58.315+0000",
        custom_details={"build_state": "passed", "build_number": "2"},
    )
    body["links"] = [{"href": "https://acme.example/build/2", "text": "View in Acme"}]
    body["images"] = [{"src": "https://acme.example/x.png"}]  # accepted, not kept (as PD)
    response = await post_change(http, body)
    assert response.status_code == 202, response.text
    assert response.json() == ACCEPTED

    [event] = await listed(http, tenant, reader)
    assert event["id"].startswith("chg_")
    assert event["summary"] == "Build Success: Increase snapshot create timeout to 30 seconds"
    assert event["source"] == "acme-build-pipeline"
    assert event["timestamp"] == "2030-07-17T08:42:58.315000Z"
    assert event["customDetails"] == {"build_state": "passed", "build_number": "2"}
    assert event["links"] == [{"href": "https://acme.example/build/2", "text": "View in Acme"}]
    assert event["receivedAt"]
    assert await incidents_of(http, tenant) == []


async def test_without_timestamp_the_change_happened_on_arrival(
    http: httpx.AsyncClient, tenant: Tenant, reader: dict[str, str]
) -> None:
    before = datetime.now(UTC)
    assert (await post_change(http, change(tenant, custom_details="plain text"))).status_code == 202
    [event] = await listed(http, tenant, reader)
    stamp = datetime.fromisoformat(event["timestamp"])
    assert before - timedelta(seconds=1) <= stamp <= datetime.now(UTC)
    assert event["timestamp"] == event["receivedAt"]
    assert event["customDetails"] == {"details": "plain text"}


async def test_list_is_newest_first_and_limited(
    http: httpx.AsyncClient, tenant: Tenant, reader: dict[str, str]
) -> None:
    now = datetime.now(UTC)
    for minutes in (30, 10, 20):
        body = change(tenant, f"{minutes} min ago", timestamp=iso(now - timedelta(minutes=minutes)))
        assert (await post_change(http, body)).status_code == 202
    summaries = [e["summary"] for e in await listed(http, tenant, reader)]
    assert summaries == ["10 min ago", "20 min ago", "30 min ago"]
    assert [e["summary"] for e in await listed(http, tenant, reader, limit=2)] == summaries[:2]
    assert len(await listed(http, tenant, reader, limit=10_000)) == 3  # capped, not refused
    bad = await http.get(
        f"/api/services/{tenant.service_id}/change-events",
        params={"limit": 0},
        headers=reader,
    )
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "limit"


async def test_list_needs_services_read_on_that_service(
    http: httpx.AsyncClient, engine: AsyncEngine, tenant: Tenant
) -> None:
    url = f"/api/services/{tenant.service_id}/change-events"
    other = await make_tenant(engine)
    elsewhere = await make_api_key(engine, ["services:read"], [other.service_id])
    no_scope = await make_api_key(engine, ["incidents:read"])
    for key, status in ((elsewhere, 403), (no_scope, 403)):
        response = await http.get(url, headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == status, response.text
    assert (await http.get(url)).status_code == 401
    admin = {"Authorization": f"Bearer {await make_api_key(engine, ['admin'])}"}
    missing = await http.get("/api/services/svc_missing/change-events", headers=admin)
    assert missing.status_code == 404


async def test_incident_shows_its_services_changes_from_the_hour_before(
    http: httpx.AsyncClient, engine: AsyncEngine, tenant: Tenant
) -> None:
    other = await make_tenant(engine)
    now = datetime.now(UTC)
    for summary, minutes in (("deploy 30m ago", -30), ("deploy 90m ago", -90), ("later", 10)):
        body = change(tenant, summary, timestamp=iso(now + timedelta(minutes=minutes)))
        assert (await post_change(http, body)).status_code == 202
    other_body = change(other, "other service", timestamp=iso(now - timedelta(minutes=5)))
    assert (await post_change(http, other_body)).status_code == 202

    key = new_key("chg")
    trigger = {
        "routing_key": tenant.integration_key,
        "event_action": "trigger",
        "dedup_key": key,
        "payload": {"summary": "errors up", "source": "api", "severity": "error"},
    }
    assert (await http.post("/v2/enqueue", json=trigger)).status_code == 202
    incident = await incident_for(http, tenant, key)
    assert [c["summary"] for c in incident["changeEvents"]] == ["deploy 30m ago"]
    assert set(incident["changeEvents"][0]) == {
        "id", "summary", "source", "timestamp", "customDetails", "links", "receivedAt"
    }  # fmt: skip


async def test_retention_hides_and_prunes_changes_older_than_90_days(
    http: httpx.AsyncClient, engine: AsyncEngine, tenant: Tenant, reader: dict[str, str]
) -> None:
    now = datetime.now(UTC)
    old = now - RETENTION - timedelta(days=1)
    stale_id = new_id("chg")
    async with session_scope(engine) as session:
        session.add(
            ChangeEvent(
                id=stale_id,
                service_id=tenant.service_id,
                summary="received long ago",
                timestamp=now,
                received_at=old,
            )
        )
    body = change(tenant, "happened long ago", timestamp=iso(old))
    assert (await post_change(http, body)).status_code == 202  # accepted, already expired
    fresh = change(tenant, "today")
    assert (await post_change(http, fresh)).status_code == 202
    assert [e["summary"] for e in await listed(http, tenant, reader)] == ["today"]
    async with session_scope(engine) as session:
        rows = await session.exec(
            select(ChangeEvent).where(ChangeEvent.service_id == tenant.service_id)
        )
        assert [r.summary for r in rows.all()] == ["today"]


BAD_CHANGES: list[tuple[str, Any, list[str]]] = [
    ("not an object", "deploy", ["Event object must be a JSON object"]),
    ("no payload", {}, ["'payload' is missing or blank"]),
    ("payload not an object", {"payload": []}, ["'payload' must be an object"]),
    ("no summary", {"payload": {"source": "ci"}}, ["'payload.summary' is missing or blank"]),
    ("summary too long", {"payload": {"summary": "x" * 1025}}, [
        "Length of 'payload.summary' is too long (maximum is 1024 characters)"
    ]),
    ("source not a string", {"payload": {"summary": "s", "source": 1}}, [
        "'payload.source' must be a string"
    ]),
    ("bad timestamp", {"payload": {"summary": "s", "timestamp": "2020-13-45"}}, [
        "'payload.timestamp' is invalid (must be an ISO 8601 timestamp)"
    ]),
    ("links not an array", {"payload": {"summary": "s"}, "links": "https://x"}, [
        "'links' must be an array"
    ]),
    ("link without href", {"payload": {"summary": "s"}, "links": [{"text": "t"}]}, [
        "'links[0].href' is missing or blank"
    ]),
]  # fmt: skip


async def test_bad_change_events_are_refused_and_store_nothing(
    http: httpx.AsyncClient, engine: AsyncEngine, tenant: Tenant, reader: dict[str, str]
) -> None:
    for name, body, errors in BAD_CHANGES:
        if isinstance(body, dict):
            body = {"routing_key": tenant.integration_key, **body}
        response = await post_change(http, body)
        assert response.status_code == 400, name
        assert_invalid(response, errors)
    response = await http.post("/v2/change/enqueue", content=b"{not json")
    assert_invalid(response, ["JSON parse error"])
    assert_invalid(await post_change(http, {"payload": {"summary": "s"}}), [
        "'routing_key' is missing or blank"
    ])  # fmt: skip
    revoked_id, revoked_key = await add_integration(engine, tenant.service_id)
    await revoke(http, engine, tenant.service_id, revoked_id)
    for key in ("f" * 32, revoked_key):
        body = change(tenant) | {"routing_key": key}
        assert_invalid(await post_change(http, body), ["Invalid routing key"])
    big = change(tenant, custom_details={"log": "x" * (512 * 1024)})
    assert_invalid(await post_change(http, big), ["Event exceeds 512 KB"], status=413)
    assert await listed(http, tenant, reader) == []


async def test_change_events_are_rate_limited_per_integration(
    http: httpx.AsyncClient,
    engine: AsyncEngine,
    tenant: Tenant,
    settings: Settings,
    reader: dict[str, str],
) -> None:
    _, key = await add_integration(engine, tenant.service_id)
    body = change(tenant) | {"routing_key": key}
    for _ in range(settings.rate_limit_requests):
        assert (await post_change(http, body)).status_code == 202
    response = await post_change(http, body | {"payload": {"summary": "one too many"}})
    assert response.status_code == 429 and response.json() == THROTTLED
    assert int(response.headers["Retry-After"]) >= 1
    summaries = {e["summary"] for e in await listed(http, tenant, reader, limit=500)}
    assert "one too many" not in summaries
