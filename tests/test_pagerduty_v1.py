"""PagerDuty Events API v1 (``POST /generic/2010-04-15/create_event.json``) through the real
API: what Alertmanager sends when ``service_key`` is configured."""

import asyncio
from typing import Any

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import Tenant, new_key
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
from web.pagerduty_parse import parse_v1

URL = "/generic/2010-04-15/create_event.json"


async def create_event(http: httpx.AsyncClient, body: Any) -> httpx.Response:
    return await http.post(URL, json=body)


def processed(response: httpx.Response, incident_key: str) -> None:
    assert response.status_code == 200, response.text
    assert response.json() == {
        "status": "success",
        "message": "Event processed",
        "incident_key": incident_key,
    }


def event(tenant: Tenant, event_type: str, incident_key: str | None = None, **fields: Any) -> Any:
    body = {"service_key": tenant.integration_key, "event_type": event_type, **fields}
    if incident_key is not None:
        body["incident_key"] = incident_key
    return body


async def test_trigger_acknowledge_resolve(http: httpx.AsyncClient, tenant: Tenant) -> None:
    key = new_key("v1")
    body = event(
        tenant,
        "trigger",
        key,
        description="FAILURE for production/HTTP on machine srv01.acme.com",
        client="Sample Monitoring Service",
        client_url="https://monitoring.service.com",
        details={"ping time": "1500ms", "load avg": 0.75},
        contexts=[
            {"type": "link", "href": "http://acme.pagerduty.com", "text": "View in custom tool"},
            {"type": "image", "src": "https://chart.example/x.png", "alt": "chart"},
        ],
    )
    processed(await create_event(http, body), key)
    incident = await incident_for(http, tenant, key)
    assert incident["title"] == "FAILURE for production/HTTP on machine srv01.acme.com"
    assert incident["urgency"] == "MEDIUM"  # v1 triggers are severity error
    [alert] = incident["alerts"]
    assert alert["severity"] == "error"
    assert alert["source"] == "Sample Monitoring Service"
    assert alert["payload"] == {
        "summary": "FAILURE for production/HTTP on machine srv01.acme.com",
        "source": "Sample Monitoring Service",
        "severity": "error",
        "custom_details": {"ping time": "1500ms", "load avg": 0.75},
    }
    assert alert["links"] == [{"href": "http://acme.pagerduty.com", "text": "View in custom tool"}]
    assert alert["images"] == [{"src": "https://chart.example/x.png", "href": None, "alt": "chart"}]
    assert alert["client"] == "Sample Monitoring Service"
    assert alert["clientUrl"] == "https://monitoring.service.com"

    processed(await create_event(http, event(tenant, "acknowledge", key)), key)
    await incident_for(http, tenant, key, status="ACKNOWLEDGED")
    processed(await create_event(http, event(tenant, "resolve", key)), key)
    await incident_for(http, tenant, key, status="RESOLVED")


async def test_trigger_without_incident_key_gets_one(
    http: httpx.AsyncClient, tenant: Tenant
) -> None:
    response = await create_event(http, event(tenant, "trigger", description="disk full"))
    key = response.json()["incident_key"]
    processed(response, key)
    assert len(key) == 32
    processed(await create_event(http, event(tenant, "resolve", key)), key)
    await incident_for(http, tenant, key, status="RESOLVED")


async def test_alertmanager_v1_body(http: httpx.AsyncClient, tenant: Tenant) -> None:
    """Alertmanager's v1 message: its v2 fields are present but empty or null."""
    key = "4b2c9f3a" * 8  # Alertmanager's group key hash: 64 hex characters
    body = {
        "service_key": tenant.integration_key,
        "incident_key": key,
        "event_type": "trigger",
        "description": "[FIRING:1] InstanceDown (node 10.0.0.1:9100)",
        "event_action": "",
        "payload": None,
        "client": "Alertmanager",
        "client_url": "http://alertmanager.example:9093/#/alerts?receiver=pd",
        "details": {"firing": "Labels:\n - alertname = InstanceDown\n", "num_firing": "1"},
    }
    processed(await create_event(http, body), key)
    incident = await incident_for(http, tenant, key)
    assert incident["alerts"][0]["payload"]["custom_details"]["num_firing"] == "1"
    resolve = body | {"event_type": "resolve", "description": "[RESOLVED] InstanceDown"}
    del resolve["client"], resolve["client_url"]
    processed(await create_event(http, resolve), key)
    await incident_for(http, tenant, key, status="RESOLVED")


async def test_acknowledge_of_unknown_key_is_processed(
    http: httpx.AsyncClient, tenant: Tenant
) -> None:
    key = new_key("none")
    processed(await create_event(http, event(tenant, "acknowledge", key)), key)
    assert await incidents_of(http, tenant) == []


BAD_V1: list[tuple[str, Any, list[str]]] = [
    ("not an object", [], ["Event object must be a JSON object"]),
    ("bad event type", {"event_type": "page"}, [
        "event_type is invalid (must be one of: trigger acknowledge resolve)"
    ]),
    ("trigger without description", {"event_type": "trigger"}, [
        "description is missing or blank"
    ]),
    ("description too long", {"event_type": "trigger", "description": "x" * 1025}, [
        "Length of description is too long (maximum is 1024 characters)"
    ]),
    ("resolve without incident key", {"event_type": "resolve"}, [
        "incident_key is missing or blank"
    ]),
    ("incident key too long", {"event_type": "resolve", "incident_key": "k" * 256}, [
        "Length of incident_key is too long (maximum is 255 characters)"
    ]),
    ("http image", {"event_type": "trigger", "description": "d",
                    "contexts": [{"type": "image", "src": "http://x/y.png"}]}, [
        "contexts[0].src must be an https URL"
    ]),
    ("context without type", {"event_type": "trigger", "description": "d",
                              "contexts": [{"href": "https://x"}]}, [
        "contexts[0].type is missing or blank"
    ]),
]  # fmt: skip


async def test_bad_events_are_refused_in_v1_shape_and_change_nothing(
    http: httpx.AsyncClient, engine: AsyncEngine, tenant: Tenant
) -> None:
    for name, body, errors in BAD_V1:
        if isinstance(body, dict):
            body = {"service_key": tenant.integration_key, **body}
        response = await create_event(http, body)
        assert response.status_code == 400, name
        assert_invalid(response, errors)
    assert_invalid(await http.post(URL, content=b"not json"), ["JSON parse error"])
    missing_key = {"event_type": "trigger", "description": "d"}
    assert_invalid(await create_event(http, missing_key), ["service_key is missing or blank"])
    revoked_id, revoked_key = await add_integration(engine, tenant.service_id)
    await revoke(http, engine, tenant.service_id, revoked_id)
    for service_key in ("e93facc04764012d7bfb002500d5d1a6", revoked_key):
        body = {"service_key": service_key, "event_type": "trigger", "description": "d"}
        assert_invalid(await create_event(http, body), ["Invalid service_key"])
    big = event(tenant, "trigger", new_key("big"), description="d", details={"x": "y" * 600_000})
    assert_invalid(await create_event(http, big), ["Event exceeds 512 KB"], status=413)
    await asyncio.sleep(0.3)
    assert await incidents_of(http, tenant) == []


async def test_throttled_v1_events_get_403_with_retry_after(
    http: httpx.AsyncClient, tenant: Tenant, settings: Settings
) -> None:
    """PagerDuty's v1 answers 403 when throttling, and v1 clients (Alertmanager) retry 403."""
    await asyncio.gather(
        *(
            create_event(http, event(tenant, "acknowledge", new_key("n")))
            for _ in range(settings.rate_limit_requests)
        )
    )
    response = await create_event(http, event(tenant, "trigger", new_key("t"), description="d"))
    assert response.status_code == 403
    assert response.json() == THROTTLED
    assert int(response.headers["Retry-After"]) >= 1
    await asyncio.sleep(0.3)
    assert await incidents_of(http, tenant) == []


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(
        ["service_key", "event_type", "incident_key", "description", "details", "client",
         "client_url", "contexts"]
    ),
    _json,
    st.sampled_from(["trigger", "resolve"]),
)  # fmt: skip
def test_parser_takes_mutated_valid_events(field: str, value: Any, event_type: str) -> None:
    body = {"service_key": "k", "event_type": event_type, "incident_key": "i", "description": "d"}
    body[field] = value
    try:
        request = parse_v1(body)
    except InvalidPayload as err:
        assert err.errors
    else:
        assert request.key and request.event.dedup_key
