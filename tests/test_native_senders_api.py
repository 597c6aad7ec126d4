"""Datadog, Sentry and CloudWatch-via-SNS through the real API, workflow and read side."""

import asyncio
import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from hypercorn.asyncio import serve
from hypercorn.config import Config as HypercornConfig
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import Tenant, free_port, make_api_key
from tests.fakes.sns import (
    FakeSns,
    SnsSigner,
    alarm_message,
    confirmation,
    notification,
    running_fake_sns,
)
from tocsin.settings import Settings
from web.app import create_app

SENTRY_SECRET = "sentry-client-secret-0123456789"


async def new_integration(
    http: httpx.AsyncClient,
    engine: AsyncEngine,
    tenant: Tenant,
    kind: str,
    *,
    config: dict[str, Any] | None = None,
    signing_secret: str | None = None,
) -> str:
    """The integration's path (its URL without the public host)."""
    admin = {"Authorization": f"Bearer {await make_api_key(engine, ['admin'])}"}
    body: dict[str, Any] = {"name": kind, "type": kind, "config": config or {}}
    if signing_secret is not None:
        body["signingSecret"] = signing_secret
    created = await http.post(
        f"/api/services/{tenant.service_id}/integrations", json=body, headers=admin
    )
    assert created.status_code == 201, created.text
    return f"/api/integrations/{kind}/{created.json()['integrationKey']}"


async def incident(
    http: httpx.AsyncClient, tenant: Tenant, incident_id: str, **expected: Any
) -> dict[str, Any]:
    """The incident once the read side shows it with the ``expected`` fields (native
    integrations answer without waiting for the projection)."""
    body: dict[str, Any] = {}
    for _ in range(100):
        response = await http.get(f"/api/incidents/{incident_id}", headers=tenant.bearer)
        if response.status_code == 200:
            body = response.json()
            if all(body.get(k) == v for k, v in expected.items()):
                return body
        else:
            assert response.status_code == 404, response.text
        await asyncio.sleep(0.1)
    raise AssertionError(f"incident {incident_id} never showed {expected}: {body}")


def only_event(response: httpx.Response, action: str) -> dict[str, Any]:
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "success"
    [event] = body["events"]
    assert event["action"] == action, body
    return event


# --- Datadog ------------------------------------------------------------------------------


def datadog(monitor: str, transition: str, event_id: str, **extra: str) -> dict[str, Any]:
    return {
        "id": event_id,
        "alert_id": monitor,
        "alert_transition": transition,
        "alert_title": f"[{transition} on {{host:db-1}}] Replication lag high",
        "alert_priority": "P1",
        "alert_scope": "host:db-1",
        "alert_type": "error",
        "alert_metric": "postgresql.replication_delay",
        "link": f"https://app.datadoghq.com/event/event?id={event_id}",
        "date": "1718000000000",
        "hostname": "db-1",
        "org": {"id": "112233", "name": "Acme"},
        **extra,
    }


async def test_datadog_monitor_triggers_and_recovers(
    http: httpx.AsyncClient, engine: AsyncEngine, tenant: Tenant
) -> None:
    path = await new_integration(http, engine, tenant, "datadog")
    monitor = str(uuid.uuid4().int % 10**9)
    triggered = datadog(monitor, "Triggered", "9001")
    event = only_event(await http.post(path, json=triggered), "triggered")
    assert event["dedup_key"] == f"datadog:{monitor}:host:db-1"
    found = await incident(http, tenant, event["incident"]["id"])
    assert found["title"] == "[Triggered on {host:db-1}] Replication lag high"
    assert found["dedupKey"] == f"datadog:{monitor}:host:db-1"
    assert found["urgency"] == "HIGH"
    [alert] = found["alerts"]
    assert alert["severity"] == "critical" and alert["source"] == "db-1"
    assert alert["client"] == "Datadog"
    assert alert["links"][0]["href"].endswith("id=9001")

    # Datadog retrying the same delivery adds nothing.
    again = only_event(await http.post(path, json=triggered), "deduplicated")
    assert again["incident"]["id"] == event["incident"]["id"]

    recovered = datadog(monitor, "Recovered", "9002")
    only_event(await http.post(path, json=recovered), "resolved")
    closed = await incident(http, tenant, event["incident"]["id"], status="RESOLVED")
    assert closed["alertCount"] == 1


async def test_datadog_default_payload_is_refused(
    http: httpx.AsyncClient, engine: AsyncEngine, tenant: Tenant
) -> None:
    path = await new_integration(http, engine, tenant, "datadog")
    response = await http.post(path, json={"title": "[Triggered] CPU", "body": "%%%\n...%%%"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "INVALID_PAYLOAD"
    assert "alert_id" in response.json()["error"]["message"]


# --- Sentry -------------------------------------------------------------------------------


async def post_sentry(
    http: httpx.AsyncClient,
    path: str,
    resource: str,
    body: dict[str, Any],
    *,
    secret: str | None = SENTRY_SECRET,
) -> httpx.Response:
    raw = json.dumps(body).encode()
    headers = {
        "Content-Type": "application/json",
        "Request-ID": str(uuid.uuid4()),
        "Sentry-Hook-Resource": resource,
        "Sentry-Hook-Timestamp": "1718000000",
    }
    if secret is not None:
        headers["Sentry-Hook-Signature"] = hmac.new(
            secret.encode(), raw, hashlib.sha256
        ).hexdigest()
    return await http.post(path, content=raw, headers=headers)


def sentry_issue(action: str, issue_id: str, level: str = "fatal") -> dict[str, Any]:
    return {
        "action": action,
        "installation": {"uuid": "a8e5d37a-696c-4c54-adb5-b3f28d64c7de"},
        "data": {
            "issue": {
                "id": issue_id,
                "shortId": "CHECKOUT-3F",
                "title": "KeyError: 'currency'",
                "culprit": "checkout.views.pay",
                "level": level,
                "status": "unresolved",
                "project": {"id": "4", "name": "checkout", "slug": "checkout"},
                "metadata": {"type": "KeyError", "value": "'currency'"},
                "web_url": f"https://sentry.io/organizations/acme/issues/{issue_id}/",
                "lastSeen": "2024-06-10T06:13:20.000000Z",
            }
        },
        "actor": {"id": "sentry", "name": "Sentry", "type": "application"},
    }


async def test_sentry_issue_lifecycle_requires_the_signature(
    http: httpx.AsyncClient, engine: AsyncEngine, tenant: Tenant
) -> None:
    path = await new_integration(http, engine, tenant, "sentry", signing_secret=SENTRY_SECRET)
    issue_id = str(uuid.uuid4().int % 10**10)
    created = sentry_issue("created", issue_id)

    unsigned = await post_sentry(http, path, "issue", created, secret=None)
    assert unsigned.status_code == 401
    assert unsigned.json()["error"]["code"] == "INVALID_SIGNATURE"
    forged = await post_sentry(http, path, "issue", created, secret="not-the-client-secret")
    assert forged.status_code == 401

    event = only_event(await post_sentry(http, path, "issue", created), "triggered")
    assert event["dedup_key"] == f"sentry:issue:{issue_id}"
    found = await incident(http, tenant, event["incident"]["id"])
    assert found["title"] == "KeyError: 'currency'"
    assert found["urgency"] == "HIGH"
    [alert] = found["alerts"]
    assert alert["severity"] == "critical" and alert["source"] == "checkout"
    assert alert["links"][0]["href"] == f"https://sentry.io/organizations/acme/issues/{issue_id}/"

    archived = await post_sentry(http, path, "issue", sentry_issue("archived", issue_id))
    only_event(archived, "acknowledged")
    resolved = await post_sentry(http, path, "issue", sentry_issue("resolved", issue_id))
    only_event(resolved, "resolved")
    await incident(http, tenant, event["incident"]["id"], status="RESOLVED")

    installation = {
        "action": "created",
        "data": {"installation": {"uuid": "a8e5d37a-696c-4c54-adb5-b3f28d64c7de"}},
        "actor": {"type": "user", "id": 1, "name": "Ada"},
    }
    ignored = await post_sentry(http, path, "installation", installation)
    assert ignored.status_code == 202 and ignored.json()["events"] == []


async def test_sentry_metric_alert(
    http: httpx.AsyncClient, engine: AsyncEngine, tenant: Tenant
) -> None:
    path = await new_integration(http, engine, tenant, "sentry")  # no secret: unsigned is fine
    alert_id = str(uuid.uuid4().int % 10**8)

    def metric(action: str) -> dict[str, Any]:
        return {
            "action": action,
            "data": {
                "description_title": f"{action.capitalize()}: Checkout error rate",
                "description_text": "12% failure rate in the last 5 minutes",
                "metric_alert": {
                    "id": alert_id,
                    "alert_rule": {"id": "7", "name": "Checkout error rate", "projects": ["co"]},
                },
                "web_url": "https://sentry.io/organizations/acme/alerts/rules/details/7/",
            },
        }

    event = only_event(
        await post_sentry(http, path, "metric_alert", metric("warning"), secret=None), "triggered"
    )
    found = await incident(http, tenant, event["incident"]["id"])
    assert found["dedupKey"] == f"sentry:metric_alert:{alert_id}"
    assert found["alerts"][0]["severity"] == "warning"
    only_event(await post_sentry(http, path, "metric_alert", metric("resolved")), "resolved")


# --- CloudWatch via SNS -------------------------------------------------------------------


@pytest_asyncio.fixture(scope="module")
async def fake_sns() -> AsyncIterator[FakeSns]:
    async with running_fake_sns() as server:
        yield server


@pytest.fixture(scope="module")
def sns_signer() -> SnsSigner:
    return SnsSigner()


@pytest_asyncio.fixture(scope="module")
async def local_sns_api(settings: Settings, api_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A second API process-in-the-loop whose SNS settings trust the local fake; it shares
    the session's database, Temporal and worker."""
    port = free_port()
    local = settings.model_copy(
        update={"sns_host_pattern": r"^127\.0\.0\.1$", "sns_allow_http": True, "port": port}
    )
    config = HypercornConfig()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    stop = asyncio.Event()
    task = asyncio.create_task(serve(create_app(local), config, shutdown_trigger=stop.wait))
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        for _ in range(100):
            try:
                await client.get("/healthz")
                break
            except httpx.TransportError:
                await asyncio.sleep(0.05)
        yield client
    stop.set()
    await task


async def post_sns(client: httpx.AsyncClient, path: str, message: dict[str, Any]) -> httpx.Response:
    """As SNS posts: JSON with content type text/plain and the message type in a header."""
    return await client.post(
        path,
        content=json.dumps(message).encode(),
        headers={
            "Content-Type": "text/plain; charset=UTF-8",
            "x-amz-sns-message-type": message["Type"],
            "x-amz-sns-message-id": message["MessageId"],
            "User-Agent": "Amazon Simple Notification Service Agent",
        },
    )


async def test_cloudwatch_alarm_through_sns(
    http: httpx.AsyncClient,
    engine: AsyncEngine,
    tenant: Tenant,
    local_sns_api: httpx.AsyncClient,
    fake_sns: FakeSns,
    sns_signer: SnsSigner,
) -> None:
    path = await new_integration(http, engine, tenant, "cloudwatch")
    cert_url = fake_sns.cert_url(sns_signer)
    token = uuid.uuid4().hex

    subscribe = confirmation(sns_signer, cert_url, fake_sns.subscribe_url(token), token)
    confirmed = await post_sns(local_sns_api, path, subscribe)
    assert confirmed.status_code == 202 and confirmed.json()["events"] == []
    assert token in fake_sns.confirmed

    name = f"HighCPU-{uuid.uuid4().hex[:8]}"
    firing = notification(sns_signer, cert_url, alarm_message(name), version="2")
    tampered = {**firing, "Message": alarm_message(name, state="OK")}
    refused = await post_sns(local_sns_api, path, tampered)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "INVALID_SIGNATURE"

    event = only_event(await post_sns(local_sns_api, path, firing), "triggered")
    assert event["dedup_key"] == f"cloudwatch:123456789012:eu-west-1:{name}"
    found = await incident(http, tenant, event["incident"]["id"])
    assert found["title"].startswith(f"{name}: Threshold Crossed")
    assert found["urgency"] == "MEDIUM"  # error, the default for alarms
    [alert] = found["alerts"]
    assert alert["severity"] == "error"
    assert alert["client"] == "Amazon CloudWatch"
    assert alert["links"][0]["href"].endswith(f"#alarmsV2:alarm/{name}")

    ok = notification(sns_signer, cert_url, alarm_message(name, state="OK"))
    only_event(await post_sns(local_sns_api, path, ok), "resolved")
    await incident(http, tenant, event["incident"]["id"], status="RESOLVED")


async def test_default_settings_fetch_nothing_from_other_hosts(
    http: httpx.AsyncClient,
    engine: AsyncEngine,
    tenant: Tenant,
    fake_sns: FakeSns,
    sns_signer: SnsSigner,
) -> None:
    """The session's API has the default, strict SNS host pattern."""
    path = await new_integration(http, engine, tenant, "cloudwatch")
    cert_url = fake_sns.cert_url(sns_signer)
    token = uuid.uuid4().hex
    subscribe = confirmation(sns_signer, cert_url, fake_sns.subscribe_url(token), token)
    response = await post_sns(http, path, subscribe)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "INVALID_SIGNATURE"
    assert fake_sns.fetches_of(cert_url) == 0
    assert token not in fake_sns.confirmed
