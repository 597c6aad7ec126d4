"""The event endpoints (``/api/events``, PagerDuty's ``/v2/enqueue`` and v1) are answered
ahead of Quart (web/ingest_asgi.py), and yet like every other route: the same error bodies
and codes, request ids, security headers and body limits, over the real wire (chunked
bodies) and at the ASGI edge (bodies that never arrive)."""

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from quart import Quart, request

from tests.conftest import Tenant, new_key, trigger_body
from tocsin.settings import Settings
from web import ingest_asgi
from web.app import create_app
from web.bodies import MAX_BODY_BYTES
from web.security_headers import CONTENT_SECURITY_POLICY, HSTS


@pytest_asyncio.fixture
async def app(settings: Settings, worker: None) -> AsyncIterator[Quart]:
    """A started app of its own, with a hook that records every request Quart handles."""
    app = create_app(settings)
    app.extensions["seen by quart"] = []

    @app.before_request
    async def record() -> None:
        app.extensions["seen by quart"].append((request.method, request.path))

    async with app.test_app():
        yield app


async def test_events_skip_quart_and_every_other_request_reaches_it(
    app: Quart, tenant: Tenant
) -> None:
    client = app.test_client()
    accepted = await client.post("/api/events", json=trigger_body(new_key()), headers=tenant.token)
    assert accepted.status_code == 202
    assert (await accepted.get_json())["result"]["action"] == "triggered"
    v2 = {**trigger_body(new_key()), "routing_key": tenant.integration_key}
    assert (await client.post("/v2/enqueue", json=v2)).status_code == 202
    v1 = {"service_key": tenant.integration_key, "event_type": "trigger", "description": "x"}
    v1_answer = await client.post("/generic/2010-04-15/create_event.json", json=v1)
    assert v1_answer.status_code == 200
    assert (await v1_answer.get_json())["status"] == "success"
    assert app.extensions["seen by quart"] == []

    wrong_method = await client.get("/api/events")
    assert wrong_method.status_code == 405
    assert (await wrong_method.get_json())["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert app.extensions["seen by quart"] == [("GET", "/api/events")]


async def test_answers_carry_the_request_id_and_security_headers(
    http: httpx.AsyncClient, tenant: Tenant
) -> None:
    answers = [
        await http.post(
            "/api/events",
            json=trigger_body(new_key()),
            headers={**tenant.token, "X-Request-ID": "req-given-1"},
        ),
        await http.post("/api/events", json=trigger_body(new_key())),  # 401
        await http.post("/api/events", content=b"{", headers=tenant.token),  # 400
    ]
    assert [a.status_code for a in answers] == [202, 401, 400]
    assert answers[0].headers["x-request-id"] == "req-given-1"
    assert answers[1].headers["x-request-id"] != answers[2].headers["x-request-id"]
    for answer in answers:
        assert answer.headers["content-type"] == "application/json"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert "strict-transport-security" not in answer.headers
        json.loads(answer.content)
    assert answers[1].json() == {
        "error": {"code": "UNAUTHORIZED", "message": "Missing or invalid API key"}
    }


async def test_pagerduty_refusals_keep_pagerduty_shape_and_the_headers(
    http: httpx.AsyncClient,
) -> None:
    unknown = {**trigger_body(new_key()), "routing_key": "no-such-key"}
    answer = await http.post("/v2/enqueue", json=unknown, headers={"X-Request-ID": "pd-1"})
    assert answer.status_code == 400
    assert answer.json() == {
        "status": "invalid event",
        "message": "Event object is invalid",
        "errors": ["Invalid routing key"],
    }
    assert answer.headers["x-request-id"] == "pd-1"
    assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    too_large = await http.post(
        "/generic/2010-04-15/create_event.json", content=_chunks(b"x" * (MAX_BODY_BYTES + 1))
    )
    assert too_large.status_code == 413
    assert too_large.json()["errors"] == ["Event exceeds 512 KB"]


async def test_hsts_when_the_request_came_over_https(app: Quart, tenant: Tenant) -> None:
    answer = await app.test_client().post(
        "/api/events", json=trigger_body(new_key()), headers=tenant.token, scheme="https"
    )
    assert answer.status_code == 202
    assert answer.headers["Strict-Transport-Security"] == HSTS


async def _chunks(body: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


async def test_a_chunked_body_is_read_whole(http: httpx.AsyncClient, tenant: Tenant) -> None:
    body = trigger_body(new_key())
    body["payload"]["custom_details"] = {"blob": "x" * 20_000}
    answer = await http.post(
        "/api/events", content=_chunks(json.dumps(body).encode()), headers=tenant.token
    )
    assert answer.status_code == 202, answer.text
    assert answer.json()["result"]["action"] == "triggered"


async def test_a_chunked_body_over_the_limit_is_413(
    http: httpx.AsyncClient, tenant: Tenant
) -> None:
    """No Content-Length to refuse it by: it is counted as it arrives."""
    answer = await http.post(
        "/api/events", content=_chunks(b"x" * (MAX_BODY_BYTES + 1), 64_000), headers=tenant.token
    )
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_unstorable_text_in_the_query_is_400(http: httpx.AsyncClient, tenant: Tenant) -> None:
    answer = await http.post(
        "/api/events?note=a%00b", json=trigger_body(new_key()), headers=tenant.token
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == {
        "code": "INVALID_REQUEST",
        "message": "URL contains NUL characters or unpaired surrogates",
    }


class Exchange:
    """One request at the app's ASGI edge, its body delivered by ``receive``."""

    def __init__(self, app: Quart, tenant: Tenant) -> None:
        self.app = app
        self.sent: list[dict[str, Any]] = []
        self.scope: Any = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/api/events",
            "raw_path": b"/api/events",
            "query_string": b"",
            "root_path": "",
            "headers": [
                (name.lower().encode(), value.encode()) for name, value in tenant.token.items()
            ],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 2),
        }

    async def run(self, receive: Any) -> None:
        async def send(message: dict[str, Any]) -> None:
            self.sent.append(message)

        asgi: Any = self.app  # called as a server calls it, with plain dicts
        await asgi(self.scope, receive, send)


async def test_a_client_gone_before_its_body_gets_no_answer(app: Quart, tenant: Tenant) -> None:
    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    exchange = Exchange(app, tenant)
    await exchange.run(receive)
    assert exchange.sent == []


async def test_a_body_that_never_arrives_is_408(
    app: Quart, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest_asgi, "BODY_TIMEOUT_SECONDS", 0.2)

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    exchange = Exchange(app, tenant)
    await asyncio.wait_for(exchange.run(receive), 10)
    start, body = exchange.sent
    assert start["status"] == 408
    assert json.loads(body["body"])["error"]["code"] == "REQUEST_TIMEOUT"


async def test_a_client_that_expects_100_continue_gets_it_and_its_answer(
    api_url: str, tenant: Tenant
) -> None:
    """curl sends ``Expect: 100-continue`` for bodies over 1 KiB and waits for it (a second)
    before sending the body."""
    body = json.dumps(trigger_body(new_key(), summary="s" * 400)).encode()
    host, port = api_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = (
        f"POST /api/events HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Authorization: {tenant.token['Authorization']}\r\nContent-Length: {len(body)}\r\n"
        "Expect: 100-continue\r\n\r\n"
    )
    writer.write(head.encode())
    await writer.drain()
    interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    assert interim.startswith(b"HTTP/1.1 100 "), interim
    writer.write(body)
    await writer.drain()
    status = await asyncio.wait_for(reader.readuntil(b"\r\n"), 30)
    writer.close()
    assert status.startswith(b"HTTP/1.1 202 "), status


async def test_the_openapi_document_still_describes_the_endpoints(http: httpx.AsyncClient) -> None:
    spec = (await http.get("/openapi.json")).json()
    events = spec["paths"]["/api/events"]["post"]
    assert "requestBody" in events and "Trigger, acknowledge or resolve" in events["summary"]
    assert {"202", "400", "401", "403", "404", "408", "413", "429", "503"} <= set(
        events["responses"]
    )
    for path in ("/v2/enqueue", "/generic/2010-04-15/create_event.json"):
        assert "requestBody" in spec["paths"][path]["post"]
