"""The Slack sender against the fake Slack Web API, through the real slack_sdk client."""

import asyncio
import json
import sys
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import ActivityEnvironment

from activities.deliveries import DeliveryActivities, DeliveryFailed
from activities.slack import SlackSender
from activities.slack_client import slack_client
from models import Notification
from models.db import session_scope
from tests.conftest import free_port
from tests.fakes.slack_api import TEST_BOT_TOKEN, FakeSlack
from tests.slack_support import delivery, incident_event
from tocsin.settings import Settings
from workflows.messages import Status
from workflows.notifications import Channel, Purpose

URL = "https://tocsin.example.com"


def sender_for(slack_api: FakeSlack, **overrides: object) -> SlackSender:
    fields = {"slack_bot_token": TEST_BOT_TOKEN, "slack_api_url": slack_api.api_url} | overrides
    return SlackSender(Settings(public_url=URL, **fields))  # type: ignore[arg-type]


def channel_name() -> str:
    return f"ops-{uuid.uuid4().hex[:8]}"


def since() -> datetime:
    return datetime.now(UTC) - timedelta(seconds=1)


async def test_without_a_token_slack_is_unavailable() -> None:
    assert SlackSender(Settings()).unavailable() == (
        "Slack is not configured (TOCSIN_SLACK_BOT_TOKEN)"
    )


async def test_announce_update_and_reply(slack_api: FakeSlack) -> None:
    sender = sender_for(slack_api)
    assert sender.unavailable() is None
    name = channel_name()
    channel = slack_api.add_channel(name)
    event = incident_event()
    announce = delivery(Purpose.ANNOUNCE, f"#{name}", event)
    sent = await sender.send(announce)
    assert sent.slack_channel == channel and sent.slack_ts
    [message] = slack_api.messages(channel)
    assert message["ts"] == sent.slack_ts
    assert message["metadata"] == {
        "event_type": "tocsin_delivery",
        "event_payload": {"key": announce.key, "incident_id": event.incident.id},
    }
    assert message["text"].startswith("[HIGH] Open: CPU above 90%")
    assert message["blocks"][0]["type"] == "header"

    acked = incident_event(Status.ACKNOWLEDGED, actor="user:usr_1", message="Acknowledged")
    acked.incident.id = event.incident.id
    update = delivery(
        Purpose.UPDATE, f"#{name}", acked, slack_channel=sent.slack_channel, slack_ts=sent.slack_ts
    )
    updated = await sender.send(update)
    assert (updated.slack_channel, updated.slack_ts) == (sent.slack_channel, sent.slack_ts)
    [message] = slack_api.messages(channel)
    assert message["text"].startswith("[HIGH] Acknowledged")
    assert "tocsin.acknowledge" not in json.dumps(message["blocks"])

    resolved = incident_event(Status.RESOLVED, actor="slack:alice", message="Resolved")
    reply = delivery(
        Purpose.REPLY,
        f"#{name}",
        resolved,
        slack_channel=sent.slack_channel,
        slack_ts=sent.slack_ts,
    )
    replied = await sender.send(reply)
    assert len(slack_api.messages(channel)) == 2
    thread_reply = slack_api.messages(channel)[1]
    assert thread_reply["thread_ts"] == sent.slack_ts and replied.slack_ts == thread_reply["ts"]
    assert thread_reply["text"] == ":white_check_mark: Resolved by slack:alice: Resolved"


async def test_page_by_email_looks_the_person_up_and_sends_a_dm(slack_api: FakeSlack) -> None:
    email = f"pat-{uuid.uuid4().hex[:6]}@example.com"
    user = slack_api.add_user("pat", email=email)
    sent = await sender_for(slack_api).send(delivery(Purpose.PAGE, email.upper()))
    assert sent.slack_channel == slack_api.im_channel(user["id"])
    assert [c.params["email"] for c in slack_api.calls_of("users.lookupByEmail")][-1] == (
        email.upper()
    )
    assert len(slack_api.messages(sent.slack_channel)) == 1
    # A Slack id needs no lookup.
    lookups = len(slack_api.calls_of("users.lookupByEmail"))
    by_id = await sender_for(slack_api).send(delivery(Purpose.PAGE, user["id"]))
    assert by_id.slack_channel == sent.slack_channel
    assert len(slack_api.calls_of("users.lookupByEmail")) == lookups


async def test_page_for_an_unknown_email_fails_for_good(slack_api: FakeSlack) -> None:
    with pytest.raises(DeliveryFailed) as failed:
        await sender_for(slack_api).send(delivery(Purpose.PAGE, "nobody@example.com"))
    assert failed.value.detail == "no Slack user with email nobody@example.com"
    assert failed.value.retryable is False


@pytest.mark.parametrize(
    ("error", "status", "retryable"),
    [
        ("ratelimited", 429, True),
        ("", 503, True),
        ("", 500, True),
        ("internal_error", 200, True),
        ("channel_not_found", 200, False),
        ("invalid_auth", 200, False),
        ("account_inactive", 200, False),
        ("msg_too_long", 200, False),
        ("users_not_found", 200, False),
    ],
)
async def test_slack_errors_say_whether_a_retry_can_help(
    slack_api: FakeSlack, error: str, status: int, retryable: bool
) -> None:
    name = channel_name()
    slack_api.add_channel(name)
    slack_api.fail_next("chat.postMessage", error, status=status, retry_after=3)
    with pytest.raises(DeliveryFailed) as failed:
        await sender_for(slack_api).send(delivery(Purpose.ANNOUNCE, f"#{name}"))
    assert failed.value.retryable is retryable
    assert (error or str(status)) in failed.value.detail or "rate limited" in failed.value.detail
    if status == 429:
        assert failed.value.data["retry_after"] == "3"


async def test_real_refusals_are_final(slack_api: FakeSlack) -> None:
    outside = channel_name()
    slack_api.add_channel(outside, is_member=False)
    cases = [
        (sender_for(slack_api), f"#{outside}", "not_in_channel"),
        (sender_for(slack_api), "C0MISSING", "channel_not_found"),
        (sender_for(slack_api, slack_bot_token="xoxb-revoked"), f"#{outside}", "invalid_auth"),
    ]
    for sender, address, error in cases:
        with pytest.raises(DeliveryFailed) as failed:
            await sender.send(delivery(Purpose.ANNOUNCE, address))
        assert failed.value.retryable is False
        assert failed.value.detail == f"Slack chat.postMessage: {error}"
        assert failed.value.data["slack_error"] == error


async def test_calls_share_one_connection_until_closed(slack_api: FakeSlack) -> None:
    """slack_sdk alone opens a connection (to Slack: a TLS handshake) for every call."""
    settings = Settings(slack_bot_token=TEST_BOT_TOKEN, slack_api_url=slack_api.api_url)
    client = slack_client(settings)
    assert client is not None
    sender = SlackSender(settings, client)
    name = channel_name()
    channel = slack_api.add_channel(name)

    async def peers_of_posts(count: int) -> set[object]:
        for _ in range(count):
            await sender.send(delivery(Purpose.ANNOUNCE, f"#{name}"))
        posts = [
            c
            for c in slack_api.calls_of("chat.postMessage")
            if c.params.get("channel") in (channel, f"#{name}")
        ]
        return {c.peer for c in posts[-count:]}

    [first] = await peers_of_posts(3)
    await client.close()
    [second] = await peers_of_posts(2)  # a closed client opens a new pool
    assert first != second
    await client.close()


async def test_connection_errors_are_retryable() -> None:
    closed = f"http://127.0.0.1:{free_port()}/api/"
    sender = SlackSender(Settings(slack_bot_token=TEST_BOT_TOKEN, slack_api_url=closed))
    with pytest.raises(DeliveryFailed) as failed:
        await sender.send(delivery(Purpose.ANNOUNCE, "C1"))
    assert failed.value.retryable is True


async def test_find_sent_finds_the_message_by_its_key(slack_api: FakeSlack) -> None:
    sender = sender_for(slack_api)
    name = channel_name()
    channel = slack_api.add_channel(name)
    announce = delivery(Purpose.ANNOUNCE, f"#{name}")
    assert await sender.find_sent(announce, since()) is None
    sent = await sender.send(announce)
    other = delivery(Purpose.ANNOUNCE, f"#{name}", announce.event)
    await sender.send(other)
    found = await sender.find_sent(announce, since())
    assert found is not None and (found.slack_channel, found.slack_ts) == (channel, sent.slack_ts)
    history = slack_api.calls_of("conversations.history")[-1].params
    assert history["channel"] == channel and history["include_all_metadata"] in ("1", "true")

    reply = delivery(Purpose.REPLY, f"#{name}", slack_channel=channel, slack_ts=sent.slack_ts)
    assert await sender.find_sent(reply, since()) is None
    replied = await sender.send(reply)
    found_reply = await sender.find_sent(reply, since())
    assert found_reply is not None and found_reply.slack_ts == replied.slack_ts

    user = slack_api.add_user("sam", email=f"sam-{uuid.uuid4().hex[:6]}@example.com")
    page = delivery(Purpose.PAGE, user["profile"]["email"])
    assert await sender.find_sent(page, since()) is None
    dm = await sender.send(page)
    found_dm = await sender.find_sent(page, since())
    assert found_dm is not None and found_dm.slack_ts == dm.slack_ts
    assert found_dm.slack_channel == dm.slack_channel


async def test_a_crash_after_slack_stored_the_message_never_posts_twice(
    slack_api: FakeSlack, engine: AsyncEngine
) -> None:
    """Attempt 1 posts, Slack stores the message, the worker dies before recording it;
    attempt 2 finds the message by its metadata key instead of posting again."""
    name = channel_name()
    channel = slack_api.add_channel(name)
    activities = DeliveryActivities(engine, {Channel.SLACK: sender_for(slack_api)})
    announce = delivery(Purpose.ANNOUNCE, f"#{name}", max_attempts=3)
    env = ActivityEnvironment()

    held = slack_api.hold("chat.postMessage")
    try:
        first = asyncio.ensure_future(env.run(activities.deliver, announce))
        for _ in range(200):
            if slack_api.messages(channel):
                break
            await asyncio.sleep(0.01)
        [stored] = slack_api.messages(channel)
        first.cancel()  # the worker dies mid-call
        with pytest.raises(asyncio.CancelledError):
            await first
    finally:
        slack_api.release("chat.postMessage")
        assert held.is_set()

    result = await env.run(activities.deliver, announce)
    assert result.status == "sent"
    assert (result.slack_channel, result.slack_ts) == (channel, stored["ts"])
    assert len(slack_api.messages(channel)) == 1
    posts = [c for c in slack_api.calls_of("chat.postMessage") if c.params["channel"] == f"#{name}"]
    assert len(posts) == 1
    async with session_scope(engine) as session:
        row = await session.get(Notification, announce.key)
    assert row is not None and row.attempts == 1 and row.detail == "found after a retry"
    assert row.external_id == f"{channel}/{stored['ts']}"
    # And a replay of the finished delivery answers from the record without calling Slack.
    calls = len(slack_api.calls)
    again = await env.run(activities.deliver, announce)
    assert again == result and len(slack_api.calls) == calls


async def test_the_fake_runs_standalone() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.fakes.slack_api", "--port", str(free_port()),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        url = (await asyncio.wait_for(proc.stdout.readline(), 10)).decode().strip()
        async with httpx.AsyncClient(base_url=url) as http:
            channel = (await http.post("/_channels", json={"name": "ops"})).json()["id"]
            client = AsyncWebClient(token="xoxb-any", base_url=f"{url}/api/")
            posted = await client.chat_postMessage(channel="#ops", text="hi")
            assert posted["channel"] == channel
            calls = (await http.get("/_calls")).json()["calls"]
            assert [c["method"] for c in calls] == ["chat.postMessage"]
            assert calls[0]["params"]["text"] == "hi"
            await http.post("/_reset")
            assert (await http.get("/_calls")).json()["calls"] == []
    finally:
        proc.kill()
        await proc.wait()
