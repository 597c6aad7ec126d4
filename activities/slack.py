"""The Slack sender: DMs for pages, the service channel's announcement, edits and replies.

Exactly once (activities/deliveries.py): every message Tocsin posts carries its delivery key
in Slack message metadata, so a retry after an attempt whose outcome is unknown (the worker
died after Slack stored the message but before we recorded it) finds the message in the
conversation's history instead of posting it again. Edits need no such check: writing the
same blocks twice leaves one message.
"""

import logging
from datetime import datetime, timedelta
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from activities.deliveries import DeliveryFailed, Sent
from activities.slack_blocks import incident_blocks, incident_text, reply_text
from activities.slack_client import (
    NOT_CONFIGURED,
    calling,
    channel_id,
    dm_channel,
    pages,
    slack_client,
    user_id_for,
)
from tocsin.settings import Settings
from workflows.notifications import Channel, Delivery, Purpose

log = logging.getLogger("tocsin.slack")

METADATA_EVENT_TYPE = "tocsin_delivery"
# History is searched from a little before the delivery was claimed: Slack's ts comes from
# Slack's clock, ours from the worker's.
CLOCK_MARGIN = timedelta(minutes=2)
HISTORY_PAGE = 100
HISTORY_MAX_PAGES = 10


def message_metadata(key: str, **payload: str) -> dict[str, Any]:
    """The metadata a message Tocsin posts carries: its notification key, and its subject."""
    return {"event_type": METADATA_EVENT_TYPE, "event_payload": {"key": key, **payload}}


def delivery_metadata(delivery: Delivery) -> dict[str, Any]:
    return message_metadata(delivery.key, incident_id=delivery.event.incident.id)


async def post_message(
    client: AsyncWebClient,
    channel: str,
    *,
    text: str,
    metadata: dict[str, Any],
    blocks: list[dict[str, Any]] | None = None,
    thread_ts: str | None = None,
) -> dict[str, Any]:
    """Post one message, links and media not unfurled; Slack's answer (``channel``, ``ts``)."""
    with calling("chat.postMessage"):
        response = await client.chat_postMessage(
            channel=channel,
            text=text,
            blocks=blocks,
            thread_ts=thread_ts,
            metadata=metadata,
            unfurl_links=False,
            unfurl_media=False,
        )
    return response.data  # type: ignore[return-value]


async def find_message(
    client: AsyncWebClient, method: str, key: str, since: datetime, **params: Any
) -> str | None:
    """The ts of the message carrying ``key`` in its metadata, posted after ``since`` (less
    the clock margin), if Slack has it (``method``: conversations.history or .replies)."""
    oldest = f"{(since - CLOCK_MARGIN).timestamp():.6f}"
    async for page in pages(
        client, method, HISTORY_MAX_PAGES, oldest=oldest, limit=HISTORY_PAGE,
        include_all_metadata="true", **params,
    ):  # fmt: skip
        for message in page.get("messages", []):
            metadata = message.get("metadata") or {}
            payload = metadata.get("event_payload") or {}
            if metadata.get("event_type") == METADATA_EVENT_TYPE and payload.get("key") == key:
                return str(message["ts"])
    return None


class SlackSender:
    channel = Channel.SLACK

    def __init__(self, settings: Settings, client: AsyncWebClient | None = None) -> None:
        """``client``: the process's shared one; without it the sender makes its own and
        ``close`` releases it."""
        self._made = None if client is not None else slack_client(settings)
        self._client = client or self._made
        self._public_url = settings.public_url

    async def close(self) -> None:
        if self._made is not None:
            await self._made.close()

    def unavailable(self) -> str | None:
        return NOT_CONFIGURED if self._client is None else None

    async def send(self, delivery: Delivery) -> Sent:
        client = self._require()
        if delivery.purpose == Purpose.UPDATE:
            return await self._update(client, delivery)
        if delivery.purpose == Purpose.REPLY:
            channel, ts = _thread(delivery)
            return await self._post(
                client, delivery, channel, text=reply_text(delivery.event), thread_ts=ts
            )
        channel = delivery.address
        if delivery.purpose == Purpose.PAGE:
            channel = await user_id_for(client, delivery.address)
        return await self._post(
            client,
            delivery,
            channel,
            text=incident_text(delivery.event, self._public_url),
            blocks=incident_blocks(delivery.event, self._public_url),
        )

    async def find_sent(self, delivery: Delivery, since: datetime) -> Sent | None:
        client = self._require()
        try:
            if delivery.purpose == Purpose.UPDATE:
                return None
            if delivery.purpose == Purpose.REPLY:
                channel, ts = _thread(delivery)
                found = await find_message(
                    client, "conversations.replies", delivery.key, since, channel=channel, ts=ts
                )
            else:
                channel = await self._conversation(client, delivery)
                found = await find_message(
                    client, "conversations.history", delivery.key, since, channel=channel
                )
        except DeliveryFailed as err:
            if err.retryable:
                raise
            # Cannot look (e.g. the history scope is missing): sending again is the lesser
            # evil, and a channel that is really gone fails the send just the same.
            log.warning("cannot check Slack for delivery %s: %s", delivery.key, err.detail)
            return None
        if found is None:
            return None
        return Sent(slack_channel=channel, slack_ts=found, data={"found": True})

    async def _post(
        self,
        client: AsyncWebClient,
        delivery: Delivery,
        channel: str,
        *,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
    ) -> Sent:
        posted = await post_message(
            client,
            channel,
            text=text,
            metadata=delivery_metadata(delivery),
            blocks=blocks,
            thread_ts=thread_ts,
        )
        return _sent(posted)

    async def _update(self, client: AsyncWebClient, delivery: Delivery) -> Sent:
        channel, ts = _thread(delivery)
        with calling("chat.update"):
            response = await client.chat_update(
                channel=channel,
                ts=ts,
                text=incident_text(delivery.event, self._public_url),
                blocks=incident_blocks(delivery.event, self._public_url),
            )
        return _sent(response.data)

    async def _conversation(self, client: AsyncWebClient, delivery: Delivery) -> str:
        """Where a PAGE or ANNOUNCE was posted: a person's DM, or the channel's id."""
        if delivery.purpose != Purpose.PAGE:
            return await channel_id(client, delivery.address)
        return await dm_channel(client, delivery.address)

    def _require(self) -> AsyncWebClient:
        if self._client is None:
            raise DeliveryFailed(NOT_CONFIGURED, retryable=False)
        return self._client


def _thread(delivery: Delivery) -> tuple[str, str]:
    if not delivery.slack_channel or not delivery.slack_ts:
        raise DeliveryFailed(
            f"{delivery.purpose} needs slack_channel and slack_ts", retryable=False
        )
    return delivery.slack_channel, delivery.slack_ts


def _sent(data: Any) -> Sent:
    channel, ts = str(data["channel"]), str(data["ts"])
    return Sent(slack_channel=channel, slack_ts=ts, data={"channel": channel, "ts": ts})
