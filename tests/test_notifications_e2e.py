"""The whole notification path on the real stack (API, dev server, worker): a trigger pages
by Slack DM and email, announces in the service's channel and its webhook; acknowledge
updates every Slack message in place; resolve replies in the thread."""

import asyncio
import json
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select
from temporalio.client import Client

from models import Incident
from models.db import session_scope
from tests.conftest import Tenant, make_tenant, new_key, trigger_body
from tests.fakes.mail_fixtures import MailServer
from tests.fakes.slack_api import FakeSlack
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.paging_helpers import give_policy, make_user, set_service
from tests.polling import eventually
from tocsin.settings import Settings
from tocsin.webhook_signing import derive_secret, service_owner, verify
from web.commands import IncidentCommands
from web.queries import timeline_entries
from worker import build_worker
from workflows.ids import incident_workflow_id
from workflows.messages import AlertIn, ChangeIn, ManualOpenIn, Status


def button_ids(message: dict[str, Any]) -> list[str]:
    return [
        element["action_id"]
        for block in message.get("blocks", [])
        if block.get("type") == "actions"
        for element in block["elements"]
    ]


async def test_trigger_ack_resolve_notify_everywhere_once(
    http: httpx.AsyncClient,
    engine: AsyncEngine,
    tenant: Tenant,
    slack_api: FakeSlack,
    smtp_server: MailServer,
    webhook_receiver: WebhookReceiver,
) -> None:
    channel = slack_api.add_channel(new_key("ops"))
    slack_user = slack_api.add_user("Ada")
    ada = await make_user(engine, "ada", slack=slack_user["id"], rules={"HIGH": ["slack", "email"]})
    hook = webhook_receiver.endpoint(200)
    await set_service(engine, tenant.service_id, slack_channel=channel, webhook_url=hook)
    await give_policy(engine, tenant.service_id, [(30, [("user", ada.id)])])

    key = new_key()
    body = trigger_body(key, "Disk full")
    accepted = await http.post("/api/events", json=body, headers=tenant.token)
    incident_id = accepted.json()["incident_key"]
    dm = slack_api.im_channel(slack_user["id"])

    async def posted() -> bool:
        return bool(slack_api.messages(channel)) and bool(slack_api.messages(dm))

    await eventually(posted, "channel message and DM")
    announcement = slack_api.messages(channel)[0]
    assert "Disk full" in json.dumps(announcement["blocks"])
    assert button_ids(announcement) == [
        "tocsin.acknowledge", "tocsin.resolve", "tocsin.snooze", "tocsin.assign",
    ]  # fmt: skip
    assert await eventually(lambda: smtp_server.to(ada.email), "email to Ada")

    async def assigned() -> bool:
        async with session_scope(engine) as session:
            row = await session.get(Incident, incident_id)
        return row is not None and row.assignee_id == ada.id

    await eventually(assigned, "the first person paged becomes the assignee")

    ack = await http.post(
        "/api/events", json={"event_action": "acknowledge", "dedup_key": key}, headers=tenant.token
    )
    assert ack.status_code == 202

    async def updated_in_place() -> bool:
        shown = [slack_api.messages(channel)[0], slack_api.messages(dm)[0]]
        return all("ACKNOWLEDGED" in json.dumps(m["blocks"]).upper() for m in shown) and all(
            "tocsin.acknowledge" not in button_ids(m) for m in shown
        )

    await eventually(updated_in_place, "both messages show the acknowledgement")
    assert len(slack_api.messages(channel)) == 1  # edited, not posted again

    await http.post(
        "/api/events", json={"event_action": "resolve", "dedup_key": key}, headers=tenant.token
    )

    async def replied() -> bool:
        replies = [
            c
            for c in slack_api.calls_of("chat.postMessage")
            if c.params.get("thread_ts") == announcement["ts"]
        ]
        return bool(replies)

    await eventually(replied, "a thread reply on resolve")
    await eventually(
        lambda: button_ids(slack_api.messages(channel)[0]) == [], "no buttons once resolved"
    )

    async def all_hooks() -> list[str]:
        # Deliveries run concurrently and may arrive out of order (docs/webhooks.md):
        # receivers order them by sequence.
        received = sorted(
            webhook_receiver.received(hook), key=lambda h: json.loads(h.body)["event"]["sequence"]
        )
        events = [h.headers["X-Tocsin-Event"] for h in received]
        return events if "incident.resolved" in events else []

    events = await eventually(all_hooks, "webhooks up to resolve")
    assert events[0] == "incident.triggered"
    assert {"incident.escalated", "incident.acknowledged"} <= set(events)
    assert len(events) == len(set(events))  # each lifecycle event once
    secret = derive_secret("test-webhook-signing-key", service_owner(tenant.service_id))
    for received in webhook_receiver.received(hook):
        assert verify(secret, received.body, received.headers["X-Tocsin-Signature"])
    # Exactly one page per channel, however many times the workflow ran its tasks.
    posts = slack_api.calls_of("chat.postMessage")
    dms = [c for c in posts if c.params.get("channel") in (slack_user["id"], dm)]
    assert len(dms) == 1
    assert len(smtp_server.to(ada.email)) == 1
    timeline = (
        await http.get(f"/api/incidents/{incident_id}/timeline", headers=tenant.bearer)
    ).json()["timeline"]
    kinds = [e["kind"] for e in timeline]
    assert "escalation" in kinds
    pages = [e for e in timeline if e["kind"] == "notification" and e["data"]["purpose"] == "page"]
    assert sorted(e["data"]["channel"] for e in pages) == ["email", "slack"]
    assert all(e["data"]["status"] == "sent" for e in pages)


async def test_failed_and_slow_deliveries_never_hold_escalation_back(
    http: httpx.AsyncClient,
    engine: AsyncEngine,
    tenant: Tenant,
    webhook_receiver: WebhookReceiver,
) -> None:
    # Wendy's webhook answers 410 (a final failure), Walt's refuses connections (retried for
    # minutes); step 2 still fires at once, and the failure is on the timeline.
    wendy = await make_user(engine, "wendy", webhook=webhook_receiver.endpoint(410))
    walt = await make_user(engine, "walt", webhook="http://127.0.0.1:9/refused")
    otto = await make_user(engine, "otto")
    await give_policy(
        engine,
        tenant.service_id,
        [(0, [("user", wendy.id), ("user", walt.id)]), (0, [("user", otto.id)])],
        channels=["webhook"],
    )
    accepted = await http.post("/api/events", json=trigger_body(new_key()), headers=tenant.token)
    url = f"/api/incidents/{accepted.json()['incident_key']}/timeline"

    async def settled() -> list[dict]:
        timeline = (await http.get(url, headers=tenant.bearer)).json()["timeline"]
        steps = [e for e in timeline if e["kind"] == "escalation"]
        failed = [e for e in timeline if e["kind"] == "notification"]
        return timeline if len(steps) == 2 and failed else []

    timeline = await eventually(settled, "both steps fired and wendy's page failed")
    steps = [e["message"] for e in timeline if e["kind"] == "escalation"]
    assert "wendy" in steps[0] and "walt" in steps[0]
    assert steps[1].endswith("nobody to notify")  # otto has no webhook
    (failed,) = [e for e in timeline if e["kind"] == "notification"]
    assert failed["data"]["userId"] == wendy.id and failed["data"]["status"] == "failed"
    assert "410" in failed["message"]


async def test_p1_incident_gets_its_own_channel_archived_on_resolve(
    client: Client,
    engine: AsyncEngine,
    settings: Settings,
    tenant: Tenant,
    slack_api: FakeSlack,
) -> None:
    queue = f"rooms-{uuid.uuid4().hex[:8]}"
    rooms_on = settings.model_copy(update={"slack_incident_channels": True})
    commands = IncidentCommands(client, queue)
    async with build_worker(client, engine, queue, rooms_on):
        request = ManualOpenIn(
            title="Checkout down", priority="P1", opened_at=datetime.now(UTC), actor="user:x"
        )
        outcome = await commands.open_manual(tenant.service_id, request)

        short = outcome.incident_id.removeprefix("inc_")[:8]

        async def room() -> str | None:
            return next(
                (c.id for c in slack_api.conversations.values() if f"inc-{short}" in c.name),
                None,
            )

        channel_id = await eventually(room, "the incident channel is created")
        await eventually(lambda: slack_api.messages(channel_id), "a message in it")
        async with session_scope(engine) as session:
            row = await session.get(Incident, outcome.incident_id)
        assert row is not None
        await commands.change(row.workflow_id, row.id, ChangeIn(status=Status.RESOLVED))
        await eventually(
            lambda: slack_api.conversations[channel_id].archived, "archived on resolve"
        )


async def test_unconfigured_channel_is_skipped_and_the_timeline_says_so(
    client: Client, engine: AsyncEngine, settings: Settings, tenant: Tenant
) -> None:
    queue = f"no-smtp-{uuid.uuid4().hex[:8]}"
    no_email = settings.model_copy(update={"smtp_host": None})
    person = await make_user(engine, "erin", rules={"HIGH": ["email"]})
    await give_policy(engine, tenant.service_id, [(5, [("user", person.id)])])
    commands = IncidentCommands(client, queue)
    async with build_worker(client, engine, queue, no_email):
        alert = AlertIn(summary="x", source="t", severity="critical", received_at=datetime.now(UTC))
        key = new_key()
        outcome = await commands.trigger(tenant.service_id, key, alert)

        async def skipped() -> list:
            entries = await timeline_entries(engine, outcome.incident_id, kinds=("notification",))
            return [e for e in entries if e.data.get("status") == "skipped"]

        (entry,) = await eventually(skipped, "the skipped page on the timeline")
        # Resolved while its worker runs: an open incident on a queue nobody polls would
        # leave later tests' updates to it waiting forever.
        workflow_id = incident_workflow_id(tenant.service_id, key)
        await commands.change(workflow_id, outcome.incident_id, ChangeIn(status=Status.RESOLVED))
    assert entry.data["userId"] == person.id and entry.data["channel"] == "email"
    assert "TOCSIN_SMTP_HOST" in entry.message


async def test_triggers_racing_a_resolve_all_reach_the_read_side(
    http: httpx.AsyncClient, engine: AsyncEngine, webhook_receiver: WebhookReceiver
) -> None:
    """After a resolve the workflow hands its deliveries to a child workflow before it ends;
    a trigger that reaches it meanwhile is answered "deduplicated" into the resolved
    incident, so the read side must count it too (mixed-load benchmark found one missing)."""
    answers: list[dict] = []

    async def keep_triggering(tenant: Tenant, key: str, stop: asyncio.Event) -> None:
        while not stop.is_set():
            sent = await http.post("/api/events", json=trigger_body(key), headers=tenant.token)
            assert sent.status_code == 202
            answers.append(sent.json())
            await asyncio.sleep(0.03)  # within the integration key's rate limit

    async def race() -> None:
        # A service each: the race is repeated to make hitting the hand-off near certain.
        tenant = await make_tenant(engine)
        await set_service(engine, tenant.service_id, webhook_url=webhook_receiver.endpoint(200))
        key = new_key()
        first = await http.post("/api/events", json=trigger_body(key), headers=tenant.token)
        answers.append(first.json())
        stop = asyncio.Event()
        senders = [asyncio.create_task(keep_triggering(tenant, key, stop)) for _ in range(3)]
        resolve = {"event_action": "resolve", "dedup_key": key}
        assert (await http.post("/api/events", json=resolve, headers=tenant.token)).is_success
        await asyncio.sleep(0.4)  # the hand-off, the run's end, a new incident on the key
        stop.set()
        await asyncio.gather(*senders)

    await asyncio.gather(*(race() for _ in range(6)))
    accepted = Counter(a["incident_key"] for a in answers)
    assert len(accepted) > 6, "some triggers came after the first runs ended"

    async def counted() -> dict[str, int]:
        async with session_scope(engine) as session:
            rows = await session.exec(
                select(Incident.id, Incident.alert_count).where(
                    col(Incident.id).in_(list(accepted))
                )
            )
            return dict(rows.all())

    async def all_counted() -> bool:
        return await counted() == dict(accepted)

    try:
        await eventually(all_counted, "every accepted trigger counted on the read side")
    except AssertionError:
        assert await counted() == dict(accepted)
