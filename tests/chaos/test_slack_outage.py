"""Slack's API failing for a while (HTTP 500s, then 429 with Retry-After, then answers that
never come in time), with incidents opening throughout: each page's webhook goes out at once,
whatever Slack does, and once Slack answers again every Slack page is posted, once.

Why the other channels are not delayed: each delivery is its own activity, started beside the
others (workflows/notifier.py ``_page``); a failed attempt waits for its retry on the
Temporal server, not in the worker, and an attempt that hangs holds one activity slot for at
most the Slack client's timeout (activities/slack_client.py), out of the worker's slots
(docs/notifications.md, "Slack outages").
"""

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select
from temporalio.client import Client

from models import Incident, Notification
from models.db import session_scope
from tests.chaos.processes import wait_until
from tests.conftest import make_tenant, new_key
from tests.fakes.slack_api import Failure, FakeSlack
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.paging_helpers import give_policy, make_user
from tocsin.settings import Settings
from web.commands import IncidentCommands
from workflows.messages import AlertIn, ChangeIn, Status

PHASE_SECONDS = 7.0  # each failure mode lasts this long: 21 s of outage in all
INCIDENTS_PER_PHASE = 2
# From trigger to the webhook's arrival with Slack down: the same as with Slack up.
WEBHOOK_ON_TIME = 5.0
# After the outage the longest wait is the retry policy's maximum interval (30 s).
CATCH_UP = 90.0
POST = "chat.postMessage"


@dataclass
class Paged:
    """One incident's service, with one person paged on Slack and by webhook."""

    service_id: str
    slack_user: str
    webhook: str
    triggered_at: float = 0.0
    incident_id: str = ""


async def paged_service(engine: AsyncEngine, slack: FakeSlack, hooks: WebhookReceiver) -> Paged:
    tenant = await make_tenant(engine)
    slack_user = slack.add_user(f"oncall-{uuid.uuid4().hex[:6]}")["id"]
    webhook = hooks.endpoint(200)
    user = await make_user(
        engine, slack=slack_user, webhook=webhook, rules={"HIGH": ["slack", "webhook"]}
    )
    await give_policy(engine, tenant.service_id, [(0, [("user", user.id)])])
    return Paged(tenant.service_id, slack_user, webhook)


async def test_slack_outage_delays_no_other_channel_and_slack_catches_up_once(
    client: Client,
    engine: AsyncEngine,
    settings: Settings,
    worker: None,
    slack_api: FakeSlack,
    webhook_receiver: WebhookReceiver,
    record_property: Callable[[str, Any], None],
) -> None:
    commands = IncidentCommands(client, settings.task_queue)

    def late_answers() -> None:
        # Slack stores the message but answers after the client gave up (10 s).
        slack_api.outage(POST, None)
        slack_api.delay(POST, 12.0)

    phases: list[Callable[[], None]] = [
        lambda: slack_api.outage(POST, Failure("internal_error", status=500)),
        lambda: slack_api.outage(POST, Failure("ratelimited", status=429, retry_after=3)),
        late_answers,
    ]
    incidents: list[Paged] = []
    try:
        for start_phase in phases:
            start_phase()
            phase_began = time.monotonic()
            for _ in range(INCIDENTS_PER_PHASE):
                paged = await paged_service(engine, slack_api, webhook_receiver)
                paged.triggered_at = time.monotonic()
                alert = AlertIn(
                    summary="Slack is down too",
                    source="chaos",
                    severity="critical",
                    received_at=datetime.now(UTC),
                )
                outcome = await commands.trigger(paged.service_id, new_key(), alert)
                paged.incident_id = outcome.incident_id
                incidents.append(paged)
            await asyncio.sleep(max(0.0, PHASE_SECONDS - (time.monotonic() - phase_began)))
    finally:
        slack_api.outage(POST, None)
        slack_api.delay(POST, None)
    recovered = time.monotonic()

    lateness = [
        webhook_receiver.received(p.webhook)[0].at - p.triggered_at
        for p in incidents
        if webhook_receiver.received(p.webhook)
    ]
    record_property("webhook_latency_s", [round(x, 2) for x in lateness])
    assert len(lateness) == len(incidents), "a webhook page never went out during the outage"
    assert max(lateness) < WEBHOOK_ON_TIME, lateness

    def posted(p: Paged) -> int:
        """Messages about ``p``'s incident in its person's DM conversation."""
        return sum(
            1
            for m in slack_api.messages(slack_api.im_channel(p.slack_user))
            if _incident_of(m) == p.incident_id
        )

    async def all_posted() -> bool:
        return all(posted(p) >= 1 for p in incidents)

    await wait_until(all_posted, CATCH_UP, "every Slack page posted after the outage")
    record_property("slack_caught_up_s", round(time.monotonic() - recovered, 1))

    async def pages_of(p: Paged) -> list[tuple[str, str]]:
        async with session_scope(engine) as session:
            rows = (
                await session.exec(
                    select(Notification).where(Notification.incident_id == p.incident_id)
                )
            ).all()
        return sorted((r.channel, r.status) for r in rows if r.purpose == "page")

    async def all_recorded() -> bool:
        # A message Slack stored while its answer was late is recorded by the retry that
        # finds it (activities/deliveries.py), not posted again.
        done = [await pages_of(p) for p in incidents]
        return all(pages == [("slack", "sent"), ("webhook", "sent")] for pages in done)

    await wait_until(all_recorded, CATCH_UP, "every page recorded as sent")
    await asyncio.sleep(3)  # nothing else may arrive
    assert [posted(p) for p in incidents] == [1] * len(incidents)
    assert all(len(webhook_receiver.received(p.webhook)) == 1 for p in incidents)

    for p in incidents:
        async with session_scope(engine) as session:
            row = await session.get(Incident, p.incident_id)
        assert row is not None
        await commands.change(row.workflow_id, row.id, ChangeIn(status=Status.RESOLVED))


def _incident_of(message: dict[str, Any]) -> str | None:
    raw = message.get("metadata")
    meta = json.loads(raw) if isinstance(raw, str) else raw or {}
    return (meta.get("event_payload") or {}).get("incident_id")
