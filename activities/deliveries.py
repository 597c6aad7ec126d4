"""The one way a notification goes out: claim its key, send at most once, record the outcome.

Exactly once across crashes and retries: the ``notification`` row for the delivery's key is
claimed first, and the attempt is counted (and committed) *before* the sender is called. A
retry that finds an attempt already counted but no outcome cannot know whether the earlier
attempt reached the channel, so it asks the sender (``find_sent``: Slack looks for the
message's metadata in the conversation); channels that cannot be asked (email, webhooks)
send again with the same Message-ID / delivery id header, documented in
docs/notifications.md.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.names import DELIVER
from models.columns import utcnow
from models.db import session_scope
from models.notifications import Notification, NotificationAttempt
from workflows.notifications import Channel, Delivery, DeliveryResult

FINAL = ("sent", "failed", "skipped")


class DeliveryFailed(Exception):
    """A send that did not reach the channel. ``retryable`` False ends the delivery now
    (e.g. Slack's ``channel_not_found``); otherwise the activity's retry policy decides."""

    def __init__(self, detail: str, *, retryable: bool = True, data: dict[str, Any] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.retryable = retryable
        self.data = data or {}


@dataclass
class Sent:
    external_id: str | None = None
    slack_channel: str | None = None
    slack_ts: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


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
        self._engine = engine
        self._senders = senders

    @activity.defn(name=DELIVER)
    async def deliver(self, delivery: Delivery) -> DeliveryResult:
        row = await self._claim(delivery)
        if row.status in FINAL:
            return _result(row)
        sender = self._senders.get(delivery.channel)
        reason = f"{delivery.channel} has no sender" if sender is None else sender.unavailable()
        if sender is None or reason is not None:
            return await self._finish(delivery.key, "skipped", reason, Sent())
        if row.attempts > 0:
            found = await sender.find_sent(delivery, row.created_at)
            if found is not None:
                return await self._finish(delivery.key, "sent", "found after a retry", found)
        attempt = await self._count_attempt(delivery.key)
        try:
            sent = await sender.send(delivery)
        except Exception as err:  # any failure is recorded; DeliveryFailed says if it is final
            failed = err if isinstance(err, DeliveryFailed) else DeliveryFailed(repr(err))
            await self._record_attempt(
                delivery.key, attempt, ok=False, detail=failed.detail, data=failed.data
            )
            final = not failed.retryable or activity.info().attempt >= delivery.max_attempts
            if final:
                return await self._finish(delivery.key, "failed", failed.detail, Sent())
            raise ApplicationError(failed.detail, type="DELIVERY_FAILED") from err
        await self._record_attempt(delivery.key, attempt, ok=True, detail=None, data=sent.data)
        return await self._finish(delivery.key, "sent", None, sent)

    async def _claim(self, delivery: Delivery) -> Notification:
        recipient = delivery.recipient
        claim = (
            insert(Notification)
            .values(
                key=delivery.key,
                incident_id=delivery.event.incident.id,
                channel=delivery.channel.value,
                purpose=delivery.purpose.value,
                event_type=delivery.event.type.value,
                address=delivery.address,
                user_id=recipient.user_id if recipient else None,
                step=delivery.step,
                round=delivery.round,
                status="sending",
                attempts=0,
                created_at=utcnow(),
                updated_at=utcnow(),
            )
            .on_conflict_do_nothing()
        )
        async with session_scope(self._engine) as session:
            await session.execute(claim)
            row = (
                await session.exec(select(Notification).where(Notification.key == delivery.key))
            ).one()
        return row

    async def _count_attempt(self, key: str) -> int:
        async with session_scope(self._engine) as session:
            result = await session.execute(
                update(Notification)
                .where(col(Notification.key) == key)
                .values(attempts=Notification.attempts + 1, updated_at=utcnow())
                .returning(col(Notification.attempts))
            )
            return int(result.scalar_one())

    async def _record_attempt(
        self, key: str, attempt: int, *, ok: bool, detail: str | None, data: dict[str, Any]
    ) -> None:
        row = insert(NotificationAttempt).values(
            key=key, attempt=attempt, at=utcnow(), ok=ok, detail=detail, data=data
        )
        async with session_scope(self._engine) as session:
            await session.execute(row.on_conflict_do_nothing())

    async def _finish(
        self, key: str, status: str, detail: str | None, sent: Sent
    ) -> DeliveryResult:
        external_id = sent.external_id
        if external_id is None and sent.slack_ts is not None:
            external_id = f"{sent.slack_channel}/{sent.slack_ts}"
        async with session_scope(self._engine) as session:
            await session.execute(
                update(Notification)
                .where(col(Notification.key) == key)
                .values(status=status, detail=detail, external_id=external_id, updated_at=utcnow())
            )
        return DeliveryResult(
            key=key,
            status=status,  # type: ignore[arg-type]
            detail=detail,
            slack_channel=sent.slack_channel,
            slack_ts=sent.slack_ts,
        )


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
