"""Incident channels: opened, responders invited, archived; all safe to retry."""

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from temporalio.testing import ActivityEnvironment

from activities.slack_client import slack_client
from activities.slack_rooms import SlackRoomActivities, room_name
from tests.fakes.slack_api import TEST_BOT_TOKEN, FakeSlack
from tocsin.settings import Settings
from workflows.notifications import CloseIncidentRoomIn, IncidentRoomIn


@asynccontextmanager
async def rooms(slack_api: FakeSlack, enabled: bool = True) -> AsyncIterator[SlackRoomActivities]:
    settings = Settings(
        slack_bot_token=TEST_BOT_TOKEN,
        slack_api_url=slack_api.api_url,
        slack_incident_channels=enabled,
    )
    client = slack_client(settings)
    assert client is not None
    try:
        yield SlackRoomActivities(settings, client)
    finally:
        await client.close()


def test_room_names_are_valid_slack_channel_names() -> None:
    incident = "inc_" + "AB12cd34" + "0" * 24
    assert room_name(incident, "DB: primary down!!") == "inc-ab12cd34-db-primary-down"
    long = room_name(incident, "x" * 200 + " tail")
    assert len(long) == 80 and long.startswith("inc-ab12cd34-x")


async def test_open_invite_and_archive(slack_api: FakeSlack) -> None:
    async with rooms(slack_api) as activities:
        await _open_invite_and_archive(slack_api, activities)


async def _open_invite_and_archive(slack_api: FakeSlack, activities: SlackRoomActivities) -> None:
    env = ActivityEnvironment()
    alice = slack_api.add_user("alice", email=f"alice-{uuid.uuid4().hex[:6]}@example.com")
    bob = slack_api.add_user("bob")
    incident = "inc_" + uuid.uuid4().hex
    request = IncidentRoomIn(
        incident_id=incident,
        title="Checkout is down",
        responders=[alice["profile"]["email"], bob["id"], "ghost@example.com"],
    )
    room = await env.run(activities.open_room, request)
    assert room.channel is not None and room.name == room_name(incident, "Checkout is down")
    assert room.invited == [alice["profile"]["email"], bob["id"]]
    assert slack_api.conversations[room.channel].members >= {alice["id"], bob["id"]}

    again = await env.run(activities.open_room, request)  # a retry after a lost answer
    assert again.channel == room.channel and again.invited == room.invited

    close = CloseIncidentRoomIn(incident_id=incident, channel=room.channel)
    await env.run(activities.close_room, close)
    assert slack_api.conversations[room.channel].archived
    await env.run(activities.close_room, close)  # already archived: done


async def test_rooms_off_by_default(slack_api: FakeSlack) -> None:
    async with rooms(slack_api, enabled=False) as activities:
        room = await ActivityEnvironment().run(
            activities.open_room, IncidentRoomIn(incident_id="inc_" + uuid.uuid4().hex, title="t")
        )
    assert room.channel is None and "TOCSIN_SLACK_INCIDENT_CHANNELS" in (room.detail or "")
