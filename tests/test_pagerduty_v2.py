"""PagerDuty Events API v2 (``POST /v2/enqueue``) through the real API, workflow and read
side; the body parser's robustness directly (pure, fast)."""

import asyncio
import json
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import Tenant, make_tenant, new_key
from tests.pagerduty_helpers import (
    THROTTLED,
    add_integration,
    assert_invalid,
    incident_for,
    incidents_of,
    revoke,
)
from tocsin.settings import Settings
from web.integrations.event import InvalidPayload
from web.pagerduty_parse import decode_body, parse_alert


def trigger(tenant: Tenant, dedup_key: str | None = None, **payload: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "routing_key": tenant.integration_key,
        "event_action": "trigger",
        "payload": {"summary": "DISK at 99%", "source": "db01", "severity": "critical", **payload},
    }
    if dedup_key is not None:
        body["dedup_key"] = dedup_key
    return body


def action(tenant: Tenant, event_action: str, dedup_key: str) -> dict[str, Any]:
    return {
        "routing_key": tenant.integration_key,
        "event_action": event_action,
        "dedup_key": dedup_key,
    }


async def enqueue(http: httpx.AsyncClient, body: Any, **headers: str) -> httpx.Response:
    return await http.post("/v2/enqueue", json=body, headers=headers)


def accepted(response: httpx.Response, dedup_key: str) -> None:
    assert response.status_code == 202, response.text
    assert response.json() == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": dedup_key,
    }


async def test_trigger_acknowledge_resolve_with_every_field(
    http: httpx.AsyncClient, tenant: Tenant
) -> None:
    key = new_key("pd")
    body = trigger(
        tenant,
        key,
        timestamp="2015-07-17T08:42:58.315+0000",
        component="mysql",
        group="prod-datapipe",
        **{"class": "disk"},
        custom_details={"free space": "1%", "load avg": 0.75},
    )
    body |= {
        "client": "Sample Monitoring Service",
        "client_url": "https://monitoring.example.com",
        "links": [{"href": "https://example.com/", "text": "Link text"}],
        "images": [
            {"src": "https://example.com/chart.png", "href": "https://example.com/", "alt": "c"}
        ],
    }
    accepted(await enqueue(http, body), key)

    incident = await incident_for(http, tenant, key)
    assert incident["status"] == "OPEN" and incident["urgency"] == "HIGH"
    assert incident["title"] == "DISK at 99%"
    [alert] = incident["alerts"]
    assert alert["summary"] == "DISK at 99%" and alert["source"] == "db01"
    assert alert["severity"] == "critical"
    assert alert["payload"] == {
        "summary": "DISK at 99%",
        "source": "db01",
        "severity": "critical",
        "timestamp": "2015-07-17T08:42:58.315+0000",
        "component": "mysql",
        "group": "prod-datapipe",
        "class": "disk",
        "custom_details": {"free space": "1%", "load avg": 0.75},
    }
    assert alert["links"] == [{"href": "https://example.com/", "text": "Link text"}]
    assert alert["images"] == [
        {"src": "https://example.com/chart.png", "href": "https://example.com/", "alt": "c"}
    ]
    assert alert["client"] == "Sample Monitoring Service"
    assert alert["clientUrl"] == "https://monitoring.example.com"

    accepted(await enqueue(http, action(tenant, "acknowledge", key)), key)
    await incident_for(http, tenant, key, status="ACKNOWLEDGED")
    accepted(await enqueue(http, action(tenant, "resolve", key)), key)
    resolved = await incident_for(http, tenant, key, status="RESOLVED")
    assert resolved["id"] == incident["id"]


async def test_trigger_without_dedup_key_gets_a_generated_one(
    http: httpx.AsyncClient, tenant: Tenant
) -> None:
    first = await enqueue(http, trigger(tenant))
    second = await enqueue(http, trigger(tenant))
    keys = [r.json()["dedup_key"] for r in (first, second)]
    for response, key in zip((first, second), keys, strict=True):
        accepted(response, key)
        assert len(key) == 32 and int(key, 16) >= 0
    assert keys[0] != keys[1]  # every trigger without a key is a new alert
    accepted(await enqueue(http, action(tenant, "resolve", keys[0])), keys[0])
    await incident_for(http, tenant, keys[0], status="RESOLVED")
    await incident_for(http, tenant, keys[1], status="OPEN")


async def test_empty_optional_fields_count_as_absent(
    http: httpx.AsyncClient, tenant: Tenant
) -> None:
    """Alertmanager's v2 body: "" for link text, image alt and href; empty arrays."""
    key = new_key("pd")
    body = trigger(tenant, key) | {
        "client": "Alertmanager",
        "client_url": "",
        "links": [{"href": "http://am.example/#/alerts", "text": ""}],
        "images": [],
    }
    accepted(await enqueue(http, body), key)
    [alert] = (await incident_for(http, tenant, key))["alerts"]
    assert alert["links"] == [{"href": "http://am.example/#/alerts", "text": None}]
    assert alert["clientUrl"] is None and alert["client"] == "Alertmanager"


async def test_second_trigger_deduplicates_and_payload_is_ignored_on_resolve(
    http: httpx.AsyncClient, tenant: Tenant
) -> None:
    key = new_key("pd")
    accepted(await enqueue(http, trigger(tenant, key, severity="warning")), key)
    accepted(await enqueue(http, trigger(tenant, key, summary="DISK full")), key)
    incident = await incident_for(http, tenant, key, alertCount=2)
    assert incident["title"] == "DISK full" and incident["urgency"] == "HIGH"
    # Alertmanager sends the whole payload with a resolve; only the key matters.
    resolve = action(tenant, "resolve", key) | {"payload": {"severity": "nonsense"}}
    accepted(await enqueue(http, resolve), key)
    await incident_for(http, tenant, key, status="RESOLVED")
    assert len(await incidents_of(http, tenant)) == 1


async def test_idempotency_key_header_counts_a_retry_once(
    http: httpx.AsyncClient, tenant: Tenant
) -> None:
    key = new_key("pd")
    for _ in range(2):
        accepted(await enqueue(http, trigger(tenant, key), **{"Idempotency-Key": "retry-1"}), key)
    accepted(await enqueue(http, trigger(tenant, key, summary="later")), key)
    # The later trigger is applied after both retries, so once it shows, the count is final.
    incident = await incident_for(http, tenant, key, title="later")
    assert incident["alertCount"] == 2


async def test_acknowledge_or_resolve_of_unknown_key_is_accepted(
    http: httpx.AsyncClient, tenant: Tenant
) -> None:
    for event_action in ("acknowledge", "resolve"):
        key = new_key("none")
        accepted(await enqueue(http, action(tenant, event_action, key)), key)
    assert await incidents_of(http, tenant) == []


async def test_dedup_key_reaches_only_its_own_services_incident(
    http: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    a, b = await make_tenant(engine), await make_tenant(engine)
    key = new_key("shared")
    accepted(await enqueue(http, trigger(a, key)), key)
    incident = await incident_for(http, a, key)
    # Another routing key (another service) with the same dedup key touches nothing.
    accepted(await enqueue(http, action(b, "resolve", key)), key)
    accepted(await enqueue(http, action(b, "acknowledge", key)), key)
    assert await incidents_of(http, b) == []
    # Its own routing key resolves it; if b's events had reached it, it would not be OPEN.
    assert (await incident_for(http, a, key))["status"] == "OPEN"
    accepted(await enqueue(http, action(a, "resolve", key)), key)
    assert (await incident_for(http, a, key, status="RESOLVED"))["id"] == incident["id"]


async def test_another_integration_of_the_same_service_shares_its_incidents(
    http: httpx.AsyncClient, engine: AsyncEngine, tenant: Tenant
) -> None:
    _, second_key = await add_integration(engine, tenant.service_id)
    key = new_key("pd")
    accepted(await enqueue(http, trigger(tenant, key)), key)
    await incident_for(http, tenant, key)
    accepted(
        await enqueue(http, {**action(tenant, "resolve", key), "routing_key": second_key}), key
    )
    await incident_for(http, tenant, key, status="RESOLVED")


def _long(n: int) -> str:
    return "x" * n


KEY = {"routing_key": "the tenant's key"}
BAD_BODIES: list[tuple[str, Any, list[str]]] = [
    ("not an object", [1, 2], ["Event object must be a JSON object"]),
    (
        "empty object",
        {},
        ["'routing_key' is missing or blank", "'event_action' is missing or blank"],
    ),
    (
        "missing routing key",
        {"event_action": "resolve", "dedup_key": "k"},
        ["'routing_key' is missing or blank"],
    ),
    (
        "routing key not a string",
        {"routing_key": 5, "event_action": "resolve", "dedup_key": "k"},
        ["'routing_key' must be a string"],
    ),
    (
        "bad action",
        {**KEY, "event_action": "fix", "dedup_key": "k"},
        ["'event_action' is invalid (must be one of: trigger acknowledge resolve)"],
    ),
    (
        "resolve without dedup key",
        {**KEY, "event_action": "resolve"},
        ["'dedup_key' is missing or blank"],
    ),
    (
        "dedup key too long",
        {**KEY, "event_action": "acknowledge", "dedup_key": _long(256)},
        ["Length of 'dedup_key' is too long (maximum is 255 characters)"],
    ),
    (
        "dedup key not a string",
        {**KEY, "event_action": "resolve", "dedup_key": 7},
        ["'dedup_key' must be a string"],
    ),
    (
        "trigger without payload",
        {**KEY, "event_action": "trigger"},
        ["'payload' is missing or blank"],
    ),
    (
        "payload not an object",
        {**KEY, "event_action": "trigger", "payload": "DISK"},
        ["'payload' must be an object"],
    ),
]

TRIGGER_PAYLOAD = {"summary": "DISK at 99%", "source": "db01", "severity": "critical"}

BAD_TRIGGERS: list[tuple[str, dict[str, Any], list[str]]] = [
    ("missing summary", {"summary": None}, ["'payload.summary' is missing or blank"]),
    ("blank summary", {"summary": "  "}, ["'payload.summary' is missing or blank"]),
    ("missing source", {"source": None}, ["'payload.source' is missing or blank"]),
    ("missing severity", {"severity": None}, ["'payload.severity' is missing or blank"]),
    ("bad severity", {"severity": "high"}, [
        "'payload.severity' is invalid (must be one of: critical error warning info)"
    ]),
    ("summary too long", {"summary": _long(1025)}, [
        "Length of 'payload.summary' is too long (maximum is 1024 characters)"
    ]),
    ("summary not a string", {"summary": 42}, ["'payload.summary' must be a string"]),
    ("bad timestamp", {"timestamp": "yesterday"}, [
        "'payload.timestamp' is invalid (must be an ISO 8601 timestamp)"
    ]),
    ("component not a string", {"component": ["a"]}, ["'payload.component' must be a string"]),
    ("everything wrong", {"summary": None, "source": 1, "severity": "p1"}, [
        "'payload.summary' is missing or blank",
        "'payload.source' must be a string",
        "'payload.severity' is invalid (must be one of: critical error warning info)",
    ]),
]  # fmt: skip

BAD_CONTEXT: list[tuple[str, dict[str, Any], list[str]]] = [
    ("http image", {"images": [{"src": "http://example.com/x.png"}]}, [
        "'images[0].src' must be an https URL"
    ]),
    ("image without src", {"images": [{"alt": "chart"}]}, ["'images[0].src' is missing or blank"]),
    ("images not an array", {"images": {"src": "https://x"}}, ["'images' must be an array"]),
    ("link not an object", {"links": ["https://x"]}, ["'links[0]' must be an object"]),
    ("javascript link", {"links": [{"href": "javascript:alert(1)"}]}, [
        "'links[0].href' must be an http or https URL"
    ]),
    ("client not a string", {"client": {"name": "x"}}, ["'client' must be a string"]),
]  # fmt: skip


async def _assert_nothing_opened(http: httpx.AsyncClient, tenant: Tenant) -> None:
    """A valid trigger sent after the refused ones is the service's only incident."""
    key = new_key("after")
    accepted(await enqueue(http, trigger(tenant, key)), key)
    await incident_for(http, tenant, key)
    assert [i["dedupKey"] for i in await incidents_of(http, tenant)] == [key]


async def test_every_bad_body_is_refused_in_pagerduty_shape_and_changes_nothing(
    http: httpx.AsyncClient, tenant: Tenant
) -> None:
    for name, body, errors in BAD_BODIES:
        if isinstance(body, dict) and body.get("routing_key") == KEY["routing_key"]:
            body = {**body, "routing_key": tenant.integration_key}
        response = await enqueue(http, body)
        assert response.status_code == 400, name
        assert_invalid(response, errors)
    for name, changes, errors in BAD_TRIGGERS:
        payload = {k: v for k, v in {**TRIGGER_PAYLOAD, **changes}.items() if v is not None}
        body = trigger(tenant, new_key("bad")) | {"payload": payload}
        response = await enqueue(http, body)
        assert response.status_code == 400, name
        assert_invalid(response, errors)
    for name, extra, errors in BAD_CONTEXT:
        response = await enqueue(http, trigger(tenant, new_key("bad")) | extra)
        assert response.status_code == 400, name
        assert_invalid(response, errors)
    await _assert_nothing_opened(http, tenant)


async def test_malformed_json_and_unstorable_text_are_invalid_events(
    http: httpx.AsyncClient, tenant: Tenant
) -> None:
    for raw in (b"{", b"", b"\xff\xfe", b'{"a": NaN}', b"1e999", b"[" * 100_000):
        response = await http.post("/v2/enqueue", content=raw)
        assert_invalid(response, ["JSON parse error"])
    nul = json.dumps(trigger(tenant, new_key("nul"), summary="a\u0000b"))
    response = await http.post("/v2/enqueue", content=nul.encode())
    assert_invalid(response, ["Event contains NUL characters or unpaired surrogates"])
    await _assert_nothing_opened(http, tenant)


async def test_unknown_revoked_or_other_type_routing_key_is_invalid(
    http: httpx.AsyncClient, engine: AsyncEngine, tenant: Tenant
) -> None:
    revoked_id, revoked_key = await add_integration(engine, tenant.service_id)
    await revoke(http, engine, tenant.service_id, revoked_id)
    _, grafana_key = await add_integration(engine, tenant.service_id, "grafana")
    for routing_key in ("0" * 32, revoked_key, grafana_key):
        body = trigger(tenant, new_key("bad")) | {"routing_key": routing_key}
        assert_invalid(await enqueue(http, body), ["Invalid routing key"])
    await _assert_nothing_opened(http, tenant)


async def test_body_over_512_kb_is_413_in_pagerduty_shape(
    http: httpx.AsyncClient, tenant: Tenant
) -> None:
    body = trigger(tenant, new_key("big"), custom_details={"blob": "x" * (512 * 1024)})
    response = await enqueue(http, body)
    assert_invalid(response, ["Event exceeds 512 KB"], status=413)
    await _assert_nothing_opened(http, tenant)


async def test_over_the_rate_limit_is_429_with_retry_after(
    http: httpx.AsyncClient, tenant: Tenant, settings: Settings
) -> None:
    """The limit is per integration key, shared with /api/events."""
    limit = settings.rate_limit_requests
    half = limit // 2
    oks = await asyncio.gather(
        *(enqueue(http, action(tenant, "acknowledge", new_key("n"))) for _ in range(half))
    )
    token = {"Authorization": f"Token token={tenant.integration_key}"}
    body = {"event_action": "resolve", "dedup_key": new_key("n")}
    others = await asyncio.gather(
        *(http.post("/api/events", json=body, headers=token) for _ in range(limit - half))
    )
    assert all(r.status_code == 202 for r in [*oks, *others])
    key = new_key("throttled")
    response = await enqueue(http, trigger(tenant, key))
    assert response.status_code == 429
    assert response.json() == THROTTLED
    assert int(response.headers["Retry-After"]) >= 1
    await asyncio.sleep(0.3)
    assert await incidents_of(http, tenant) == []


# --- the parser alone: any JSON gives events or InvalidPayload, nothing else ---------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=20,
)
_fields = st.sampled_from(
    ["routing_key", "event_action", "dedup_key", "payload", "images", "links", "client",
     "client_url"]
)  # fmt: skip
_payload_fields = st.sampled_from(
    ["summary", "source", "severity", "timestamp", "component", "group", "class",
     "custom_details"]
)  # fmt: skip


def _parses_or_refuses(body: Any) -> None:
    try:
        request = parse_alert(body)
    except InvalidPayload as err:
        assert err.errors and all(isinstance(e, str) for e in err.errors)
    else:
        assert request.key and request.event.dedup_key


@settings(max_examples=300, deadline=None)
@given(_json)
def test_parser_takes_any_json(body: Any) -> None:
    _parses_or_refuses(body)


@settings(max_examples=300, deadline=None)
@given(_fields, _payload_fields, _json, _json, st.sampled_from(["trigger", "acknowledge"]))
def test_parser_takes_mutated_valid_events(
    field: str, payload_field: str, value: Any, payload_value: Any, event_action: str
) -> None:
    body: dict[str, Any] = {
        "routing_key": "k" * 32,
        "event_action": event_action,
        "dedup_key": "d",
        "payload": dict(TRIGGER_PAYLOAD),
    }
    body["payload"][payload_field] = payload_value
    body[field] = value
    _parses_or_refuses(body)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_decoder_takes_any_bytes(raw: bytes) -> None:
    try:
        decode_body(raw)
    except InvalidPayload:
        pass


@pytest.mark.parametrize("stamp", ["2015-07-17T08:42:58.315+0000", "2020-01-01T00:00:00Z"])
def test_pagerduty_timestamps_parse(stamp: str) -> None:
    body = {
        "routing_key": "k",
        "event_action": "trigger",
        "payload": {**TRIGGER_PAYLOAD, "timestamp": stamp},
    }
    assert parse_alert(body).event.payload["timestamp"] == stamp
