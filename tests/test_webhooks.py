"""Outgoing webhooks through the real ``deliver`` activity on the real Temporal server, to a
real HTTP receiver: signatures, retries and their records, exactly-once per key."""

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import pytest_asyncio
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from tests.delivery_harness import Deliver, attempts, delivery_worker, make_delivery, notification
from tests.fakes.webhook_receiver import WebhookReceiver
from tocsin import webhook_signing as signing
from tocsin.settings import Settings
from workflows.notifications import Channel, Purpose, Recipient

KEY = "test-webhook-signing-key"  # the conftest settings'


@pytest_asyncio.fixture(scope="module")
async def deliver(
    client: Client, engine: AsyncEngine, settings: Settings
) -> AsyncIterator[Deliver]:
    async with delivery_worker(client, engine, settings) as run:
        yield run


# --- signing (pure) ---------------------------------------------------------------------------


def test_signature_verifies_with_the_derived_secret_only() -> None:
    body = b'{"event": {"id": "k"}}'
    secret = signing.derive_secret(KEY, signing.service_owner("svc_a"))
    header = signing.signature(secret, body)
    assert header.startswith("v1=") and len(header) == 3 + 64
    assert signing.verify(secret, body, header)
    assert not signing.verify(secret, body + b" ", header), "a tampered body fails"
    assert not signing.verify(secret, body, None)
    other = signing.derive_secret(KEY, signing.service_owner("svc_b"))
    assert other != secret, "each service has its own secret"
    assert not signing.verify(other, body, header)
    assert signing.derive_secret(KEY, signing.user_owner("svc_a")) != secret
    assert signing.derive_secret("another key", signing.service_owner("svc_a")) != secret
    assert signing.derive_secret(KEY, signing.service_owner("svc_a")) == secret, "derived"


# --- delivery ---------------------------------------------------------------------------------


async def test_retries_until_the_receiver_accepts(
    deliver: Deliver, webhook_receiver: WebhookReceiver, engine: AsyncEngine
) -> None:
    url = webhook_receiver.endpoint(500, 500, 200)
    delivery = make_delivery(Channel.WEBHOOK, url, custom_details={"host": "web-1"})

    result = await deliver(delivery)

    assert result.status == "sent"
    hooks = webhook_receiver.received(url)
    assert len(hooks) == 3
    assert {h.headers[signing.DELIVERY_HEADER] for h in hooks} == {delivery.key}
    secret = signing.derive_secret(KEY, signing.service_owner(delivery.event.incident.service_id))
    for hook in hooks:
        assert signing.verify(secret, hook.body, hook.headers[signing.SIGNATURE_HEADER])
        assert hook.headers[signing.EVENT_HEADER] == "incident.triggered"
        assert hook.headers["User-Agent"] == "Tocsin-Webhook/1"
        assert hook.headers["Content-Type"] == "application/json"
        assert hook.headers[signing.TIMESTAMP_HEADER].isdigit()
    tried = await attempts(engine, delivery.key)
    assert [(a.attempt, a.ok, a.data.get("status")) for a in tried] == [
        (1, False, 500),
        (2, False, 500),
        (3, True, 200),
    ]
    row = await notification(engine, delivery.key)
    assert (row.status, row.attempts, row.external_id) == ("sent", 3, "HTTP 200")


async def test_payload_is_the_documented_shape(
    deliver: Deliver, webhook_receiver: WebhookReceiver
) -> None:
    url = webhook_receiver.endpoint(204)
    delivery = make_delivery(Channel.WEBHOOK, url)

    assert (await deliver(delivery)).status == "sent"

    event = json.loads(webhook_receiver.received(url)[0].body)["event"]
    incident = delivery.event.incident
    assert event["id"] == delivery.key
    assert event["event_type"] == "incident.triggered"
    assert event["agent"] == {
        "type": "integration",
        "id": "int_123",
        "summary": "integration:int_123",
    }
    assert event["message"] == "Triggered by prometheus"
    data = event["data"]
    assert data["id"] == incident.id
    assert data["serviceId"] == incident.service_id
    assert data["serviceName"] == "API Gateway"
    assert data["htmlUrl"] == f"http://127.0.0.1:8080/incidents/{incident.id}"
    assert (data["status"], data["urgency"], data["priority"]) == ("OPEN", "HIGH", "P1")
    assert set(data) == {
        "id", "title", "description", "status", "urgency", "priority", "assigneeId",
        "escalationStatus", "alertCount", "serviceId", "serviceName", "dedupKey",
        "createdAt", "acknowledgedAt", "resolvedAt", "snoozedUntil", "htmlUrl",
    }  # fmt: skip


async def test_a_person_s_webhook_is_signed_with_their_own_secret(
    deliver: Deliver, webhook_receiver: WebhookReceiver
) -> None:
    url = webhook_receiver.endpoint(200)
    delivery = make_delivery(
        Channel.WEBHOOK, url, purpose=Purpose.PAGE, recipient=Recipient(user_id="usr_1", name="A")
    )
    assert (await deliver(delivery)).status == "sent"
    hook = webhook_receiver.received(url)[0]
    secret = signing.derive_secret(KEY, signing.user_owner("usr_1"))
    assert signing.verify(secret, hook.body, hook.headers[signing.SIGNATURE_HEADER])


async def test_gives_up_after_max_attempts_and_records_each(
    deliver: Deliver, webhook_receiver: WebhookReceiver, engine: AsyncEngine
) -> None:
    url = webhook_receiver.endpoint(503)
    delivery = make_delivery(Channel.WEBHOOK, url, max_attempts=3)

    result = await deliver(delivery)  # a result, not a failed workflow

    assert (result.status, result.detail) == ("failed", "receiver answered HTTP 503")
    assert len(webhook_receiver.received(url)) == 3
    tried = await attempts(engine, delivery.key)
    assert [(a.ok, a.data["status"]) for a in tried] == [(False, 503)] * 3
    assert tried[0].data["body"] == "scripted 503"


async def test_a_refusal_is_final_at_once(
    deliver: Deliver, webhook_receiver: WebhookReceiver, engine: AsyncEngine
) -> None:
    url = webhook_receiver.endpoint(410)
    delivery = make_delivery(Channel.WEBHOOK, url)

    result = await deliver(delivery)

    assert result.status == "failed"
    assert len(webhook_receiver.received(url)) == 1
    assert [a.data["status"] for a in await attempts(engine, delivery.key)] == [410]


async def test_429_is_retried(deliver: Deliver, webhook_receiver: WebhookReceiver) -> None:
    url = webhook_receiver.endpoint(429, 200)
    assert (await deliver(make_delivery(Channel.WEBHOOK, url))).status == "sent"
    assert len(webhook_receiver.received(url)) == 2


async def test_an_unreachable_receiver_is_retried_then_fails(
    deliver: Deliver, engine: AsyncEngine
) -> None:
    from tests.conftest import free_port

    delivery = make_delivery(Channel.WEBHOOK, f"http://127.0.0.1:{free_port()}/", max_attempts=2)
    result = await deliver(delivery)
    assert result.status == "failed" and "connection failed" in (result.detail or "")
    assert len(await attempts(engine, delivery.key)) == 2


async def test_a_non_http_url_is_refused_without_retrying(
    deliver: Deliver, engine: AsyncEngine
) -> None:
    delivery = make_delivery(Channel.WEBHOOK, "file:///etc/passwd")
    result = await deliver(delivery)
    assert result.status == "failed" and "not an http(s) URL" in (result.detail or "")
    assert len(await attempts(engine, delivery.key)) == 1


async def test_the_same_key_is_delivered_once(
    deliver: Deliver, webhook_receiver: WebhookReceiver, engine: AsyncEngine
) -> None:
    url = webhook_receiver.endpoint(200)
    delivery = make_delivery(Channel.WEBHOOK, url)

    first = await deliver(delivery)
    second = await deliver(delivery)

    assert first.status == second.status == "sent"
    assert len(webhook_receiver.received(url)) == 1
    assert (await notification(engine, delivery.key)).attempts == 1


@contextmanager
def statements_about(engine: AsyncEngine, key: str) -> Iterator[list[str]]:
    """The SQL statements ``engine`` runs with ``key`` among their parameters."""
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, parameters: Any, *rest: Any) -> None:
        if key in repr(parameters):
            seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)


async def test_a_new_key_costs_one_statement_before_the_send_and_one_after(
    deliver: Deliver, webhook_receiver: WebhookReceiver, engine: AsyncEngine
) -> None:
    """The claim counts the first attempt in its own statement; the outcome and the final
    status are one more."""
    delivery = make_delivery(Channel.WEBHOOK, webhook_receiver.endpoint(200))
    with statements_about(engine, delivery.key) as seen:
        result = await deliver(delivery)
    assert result.status == "sent"
    assert len(seen) == 2, seen
    assert (await notification(engine, delivery.key)).attempts == 1
    assert [a.attempt for a in await attempts(engine, delivery.key)] == [1]


async def test_skipped_when_signing_is_not_configured(
    client: Client, engine: AsyncEngine, settings: Settings, webhook_receiver: WebhookReceiver
) -> None:
    unsigned = settings.model_copy(update={"webhook_signing_key": None})
    url = webhook_receiver.endpoint(200)
    delivery = make_delivery(Channel.WEBHOOK, url)
    async with delivery_worker(client, engine, unsigned) as run:
        result = await run(delivery)
    assert result.status == "skipped"
    assert "TOCSIN_WEBHOOK_SIGNING_KEY" in (result.detail or "")
    assert webhook_receiver.received(url) == []
    assert (await notification(engine, delivery.key)).attempts == 0  # nothing was attempted
