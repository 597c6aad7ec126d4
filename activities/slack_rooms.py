"""A P1/P2 incident's own Slack channel: opened on trigger, archived on resolve.

Both activities are idempotent: a retried open finds the channel it created before by its
name (which carries the incident's id), and archiving an archived or missing channel is done.
"""

import logging
import re

from slack_sdk.web.async_client import AsyncWebClient
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.deliveries import DeliveryFailed
from activities.names import CLOSE_INCIDENT_ROOM, OPEN_INCIDENT_ROOM
from activities.slack_client import NOT_CONFIGURED, calling, channel_id, user_id_for
from tocsin.settings import Settings
from workflows.notifications import CloseIncidentRoomIn, IncidentRoom, IncidentRoomIn

log = logging.getLogger("tocsin.slack")

NAME_MAX = 80  # Slack's channel name limit
# Invite failures that leave nothing to do for that person.
_SKIP_INVITE = {"already_in_channel", "cant_invite_self", "user_not_found", "users_not_found"}


def room_name(incident_id: str, title: str) -> str:
    """``inc-<short id>-<slug>``: lowercase letters, digits and dashes, as Slack requires."""
    short = incident_id.removeprefix("inc_")[:8].lower()
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    return f"inc-{short}-{slug}"[:NAME_MAX].rstrip("-")


class SlackRoomActivities:
    def __init__(self, settings: Settings, client: AsyncWebClient | None) -> None:
        """``client`` is the worker's shared one (None without a bot token); its maker
        closes it."""
        self._enabled = settings.slack_incident_channels
        self._client = client

    @activity.defn(name=OPEN_INCIDENT_ROOM)
    async def open_room(self, request: IncidentRoomIn) -> IncidentRoom:
        if not self._enabled:
            return IncidentRoom(detail="incident channels are off (TOCSIN_SLACK_INCIDENT_CHANNELS)")
        if self._client is None:
            return IncidentRoom(detail=NOT_CONFIGURED)
        client = self._client
        name = room_name(request.incident_id, request.title)
        try:
            channel = await _create(client, name)
            invited = [u for u in request.responders if await _invite(client, channel, u)]
        except DeliveryFailed as err:
            raise _activity_error(err) from err
        return IncidentRoom(channel=channel, name=name, invited=invited)

    @activity.defn(name=CLOSE_INCIDENT_ROOM)
    async def close_room(self, request: CloseIncidentRoomIn) -> None:
        if self._client is None:
            return
        try:
            with calling("conversations.archive"):
                await self._client.conversations_archive(channel=request.channel)
        except DeliveryFailed as err:
            if err.data.get("slack_error") in ("already_archived", "channel_not_found"):
                return
            raise _activity_error(err) from err


async def _create(client: AsyncWebClient, name: str) -> str:
    try:
        with calling("conversations.create"):
            response = await client.conversations_create(name=name)
    except DeliveryFailed as err:
        if err.data.get("slack_error") == "name_taken":  # created by an earlier attempt
            return await channel_id(client, f"#{name}")
        raise
    return str(response["channel"]["id"])


async def _invite(client: AsyncWebClient, channel: str, responder: str) -> bool:
    """Whether the person is in the channel now; people Slack does not know are skipped."""
    try:
        user = await user_id_for(client, responder)
        with calling("conversations.invite"):
            await client.conversations_invite(channel=channel, users=user)
    except DeliveryFailed as err:
        code = err.data.get("slack_error")
        if code == "already_in_channel":
            return True
        if code in _SKIP_INVITE or not err.retryable:
            log.warning("not inviting %s to %s: %s", responder, channel, err.detail)
            return False
        raise
    return True


def _activity_error(err: DeliveryFailed) -> ApplicationError:
    return ApplicationError(err.detail, type="SLACK_FAILED", non_retryable=not err.retryable)
