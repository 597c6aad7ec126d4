"""The one way a notification goes out: claim its key, send at most once, record the outcome.

Exactly once across crashes and retries: the ``notification`` row for the delivery's key is
claimed first, and the attempt is counted (and committed) *before* the sender is called
(the ledger: activities/notification_ledger.py, shared with handoff notices). A
retry that finds an attempt already counted but no outcome cannot know whether the earlier
attempt reached the channel, so it asks the sender (``find_sent``: Slack looks for the
message's metadata in the conversation); channels that cannot be asked (email, webhooks)
send again with the same Message-ID / delivery id header, documented in
docs/notifications.md.
"""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from activities.names import DELIVER
from activities.notification_ledger import (
    FINAL,
    DeliveryFailed,
    NotificationLedger,
    Sent,
    counted,
)
from models.notifications import Notification
from tocsin.logs import bound
from tocsin.metrics import PAGE_LATENESS
from workflows.notifications import Channel, Delivery, DeliveryResult, Purpose

__all__ = ["DeliveryActivities", "DeliveryFailed", "Sender", "Sent"]


class Sender(Protocol):
    channel: Channel

    def unavailable(self) -> str | None:
        """Why this channel cannot send at all (not configured), or None."""

    async def find_sent(self, delivery: Delivery, since: datetime) -> Sent | None:
        """Whether an earlier attempt (started after ``since``) already delivered it."""

    async def send(self, delivery: Delivery) -> Sent:
        """Deliver once; raise DeliveryFailed when it did not."""


class DeliveryActivities:
    def __init__(self, engine: AsyncEngine, senders: Mapping[Channel, Sender]) -> None:
        self._ledger = NotificationLedger(engine)
        self._senders = senders

    @activity.defn(name=DELIVER)
    async def deliver(self, delivery: Delivery) -> DeliveryResult:
        recipient = delivery.recipient
        sender = self._senders.get(delivery.channel)
        reason = f"{delivery.channel} has no sender" if sender is None else sender.unavailable()
        row, fresh = await self._ledger.claim(
            delivery.key,
            incident_id=delivery.event.incident.id,
            channel=delivery.channel.value,
            purpose=delivery.purpose.value,
            event_type=delivery.event.type.value,
            address=delivery.address,
            user_id=recipient.user_id if recipient else None,
            step=delivery.step,
            round=delivery.round,
            # Counted in the claim when it will be made (a skipped one is no attempt).
            first_attempt=reason is None,
        )
        if row.status in FINAL:
            return _result(row)
        with bound(incident_id=delivery.event.incident.id):
            if sender is None or reason is not None:
                settled = self._ledger.finish(delivery.key, "skipped", reason, Sent())
            else:
                settled = self._send(delivery, row, sender, fresh)
            result = await counted(delivery.channel.value, delivery.purpose.value, settled)
            activity.logger.info(
                "notification %s by %s: %s", delivery.key, delivery.channel.value, result.status
            )
        if result.status == "sent":
            _observe_lateness(delivery)
        return result

    async def _send(
        self, delivery: Delivery, row: Notification, sender: Sender, fresh: bool
    ) -> DeliveryResult:
        """``fresh``: this activity made the row and counted its first attempt."""
        if not fresh and row.attempts > 0:
            found = await sender.find_sent(delivery, row.created_at)
            if found is not None:
                return await self._ledger.finish(delivery.key, "sent", "found after a retry", found)
        return await self._ledger.send_once(
            delivery.key,
            delivery.max_attempts,
            lambda: sender.send(delivery),
            attempt=row.attempts if fresh else None,
        )


def _observe_lateness(delivery: Delivery) -> None:
    """A page's lateness: from the moment its escalation step was due to now, when it was
    sent (retries included: a page that needed three attempts reached its person late)."""
    if delivery.purpose == Purpose.PAGE and delivery.due_at is not None:
        late = (datetime.now(UTC) - delivery.due_at).total_seconds()
        PAGE_LATENESS.labels(delivery.channel.value).observe(max(late, 0.0))


def _result(row: Notification) -> DeliveryResult:
    channel, ts = None, None
    if row.channel == Channel.SLACK and row.external_id and "/" in row.external_id:
        channel, ts = row.external_id.split("/", 1)
    return DeliveryResult(
        key=row.key,
        status=row.status,  # type: ignore[arg-type]
        detail=row.detail,
        slack_channel=channel,
        slack_ts=ts,
    )
