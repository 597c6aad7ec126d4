"""Every error row of seed 001, with its stable code, and the rate limit."""

import asyncio
import uuid
from collections.abc import Callable

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from tests.app_server import serving
from tests.conftest import Tenant, make_api_key, make_tenant, new_key, trigger_body
from tocsin.settings import Settings
from workflows.ids import incident_workflow_id


def error_of(response: httpx.Response) -> dict:
    body = response.json()
    assert set(body) == {"error"}, body
    return body["error"]


@pytest.mark.parametrize("content", [b'{"event_action":', b"", b"\xff\xfe", b"{'single': 1}"])
async def test_invalid_json(http: httpx.AsyncClient, tenant: Tenant, content: bytes) -> None:
    response = await http.post("/api/events", content=content, headers=tenant.token)
    assert response.status_code == 400
    assert error_of(response)["code"] == "INVALID_JSON"


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b.pop("event_action"), "event_action"),
        (lambda b: b.update(event_action="explode"), "event_action"),
        (lambda b: b.pop("dedup_key"), "dedup_key"),
        (lambda b: b.update(dedup_key="x" * 201), "dedup_key"),
        (lambda b: b.update(dedup_key=""), "dedup_key"),
        (lambda b: b.pop("payload"), "payload"),
        (lambda b: b["payload"].pop("summary"), "payload.summary"),
        (lambda b: b["payload"].update(summary="s" * 501), "payload.summary"),
        (lambda b: b["payload"].pop("source"), "payload.source"),
        (lambda b: b["payload"].update(source="s" * 201), "payload.source"),
        (lambda b: b["payload"].update(severity="fatal"), "payload.severity"),
        (lambda b: b["payload"].update(custom_details=[1, 2]), "payload.custom_details"),
        (lambda b: b.update(payload="text"), "payload"),
    ],
)
async def test_invalid_request_names_the_field(
    http: httpx.AsyncClient, tenant: Tenant, mutate: Callable[[dict], object], field: str
) -> None:
    body = trigger_body(new_key())
    mutate(body)
    response = await http.post("/api/events", json=body, headers=tenant.token)
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "INVALID_REQUEST"
    assert error["field"] == field
    assert field in error["message"]


@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"42", b"null"])
async def test_non_object_body_is_a_400(
    http: httpx.AsyncClient, tenant: Tenant, body: bytes
) -> None:
    response = await http.post("/api/events", content=body, headers=tenant.token)
    assert response.status_code == 400
    assert error_of(response)["code"] == "INVALID_REQUEST"


@pytest.mark.parametrize(
    "authorization", [None, "", "Basic abc", "Bearer", "Bearer not-a-real-key", "Token nothing"]
)
async def test_unauthorized(http: httpx.AsyncClient, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = await http.post("/api/events", json=trigger_body(new_key()), headers=headers)
    assert response.status_code == 401
    assert error_of(response)["code"] == "UNAUTHORIZED"


async def test_unknown_integration_key(http: httpx.AsyncClient) -> None:
    headers = {"Authorization": "Token token=0123456789abcdef0123456789abcdef"}
    response = await http.post("/api/events", json=trigger_body(new_key()), headers=headers)
    assert response.status_code == 403
    assert error_of(response)["code"] == "INVALID_INTEGRATION_KEY"


async def test_missing_scope(http: httpx.AsyncClient, engine: AsyncEngine, tenant: Tenant) -> None:
    key = await make_api_key(engine, ["incidents:read"])
    body = trigger_body(new_key()) | {"service_id": tenant.service_id}
    response = await http.post("/api/events", json=body, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 403
    assert error_of(response)["code"] == "MISSING_SCOPE"


async def test_service_access_denied(http: httpx.AsyncClient, engine: AsyncEngine) -> None:
    mine, theirs = await make_tenant(engine), await make_tenant(engine)
    key = await make_api_key(engine, ["events:write"], [mine.service_id])
    headers = {"Authorization": f"Bearer {key}"}
    for target in ({"service_id": theirs.service_id}, {"routing_key": theirs.integration_key}):
        response = await http.post(
            "/api/events", json=trigger_body(new_key()) | target, headers=headers
        )
        assert response.status_code == 403
        assert error_of(response)["code"] == "SERVICE_ACCESS_DENIED"
    ok = await http.post(
        "/api/events",
        json=trigger_body(new_key()) | {"service_id": mine.service_id},
        headers=headers,
    )
    assert ok.status_code == 202


async def test_service_not_found(http: httpx.AsyncClient, tenant: Tenant) -> None:
    body = trigger_body(new_key()) | {"service_id": "svc_does_not_exist"}
    response = await http.post("/api/events", json=body, headers=tenant.bearer)
    assert response.status_code == 404
    assert error_of(response)["code"] == "SERVICE_NOT_FOUND"


async def test_unknown_routing_key(http: httpx.AsyncClient, tenant: Tenant) -> None:
    body = trigger_body(new_key()) | {"routing_key": "ffffffffffffffffffffffffffffffff"}
    response = await http.post("/api/events", json=body, headers=tenant.bearer)
    assert response.status_code == 404
    assert error_of(response)["code"] == "INVALID_ROUTING_KEY"


async def test_api_key_needs_a_service(http: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await http.post("/api/events", json=trigger_body(new_key()), headers=tenant.bearer)
    assert response.status_code == 400
    assert error_of(response)["field"] == "service_id"


async def test_oversized_body_is_413(http: httpx.AsyncClient, tenant: Tenant) -> None:
    body = trigger_body(new_key())
    body["payload"]["custom_details"] = {"blob": "x" * 600_000}
    response = await http.post("/api/events", json=body, headers=tenant.token)
    assert response.status_code == 413
    assert error_of(response)["code"] == "PAYLOAD_TOO_LARGE"


async def test_rate_limit_121st_request(http: httpx.AsyncClient, engine: AsyncEngine) -> None:
    noisy, quiet = await make_tenant(engine), await make_tenant(engine)
    # Acknowledging a key with no incident is the cheapest accepted event.
    body = {"event_action": "acknowledge", "dedup_key": new_key()}
    responses = await asyncio.gather(
        *(http.post("/api/events", json=body, headers=noisy.token) for _ in range(120))
    )
    assert [r.status_code for r in responses] == [202] * 120
    limited = await http.post("/api/events", json=body, headers=noisy.token)
    assert limited.status_code == 429
    assert error_of(limited)["code"] == "RATE_LIMITED"
    # A hit counts for at least the 60 s window and at most one second more (per-second
    # buckets, migration 0010): a burst within one second is admitted again 61 s later.
    assert 1 <= int(limited.headers["Retry-After"]) <= 61
    # Nothing else is limited by that burst: not another key, not the same service's API key.
    assert (await http.post("/api/events", json=body, headers=quiet.token)).status_code == 202
    bearer = body | {"service_id": noisy.service_id}
    assert (await http.post("/api/events", json=bearer, headers=noisy.bearer)).status_code == 202


async def test_unknown_routes_are_json_404(http: httpx.AsyncClient) -> None:
    response = await http.get("/api/nothing-here")
    assert response.status_code == 404
    assert error_of(response)["code"] == "NOT_FOUND"


async def test_an_update_no_worker_applies_is_a_503_not_a_hang(
    settings: Settings, client: Client, tenant: Tenant
) -> None:
    """An incident whose task queue no worker polls: the trigger is accepted (it needs only
    Temporal), the acknowledge cannot be applied and is answered 503 after the wait."""
    queue = f"no-worker-{uuid.uuid4().hex[:8]}"
    lonely = settings.model_copy(update={"task_queue": queue, "update_wait_seconds": 2.0})
    dedup_key = new_key("lonely")
    try:
        async with serving(lonely) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
            sent = await http.post(
                "/api/events", json=trigger_body(dedup_key), headers=tenant.token
            )
            assert sent.status_code == 202
            ack = {"event_action": "acknowledge", "dedup_key": dedup_key}
            answer = await http.post("/api/events", json=ack, headers=tenant.token)
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"]["code"] == "WORKER_UNAVAILABLE"
        assert answer.headers["Retry-After"] == "30"
    finally:  # nothing will ever run it: leave no open incident behind for other tests
        await client.get_workflow_handle(
            incident_workflow_id(tenant.service_id, dedup_key)
        ).terminate()
