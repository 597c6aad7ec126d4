"""The ``notification`` table as the ledger behind exactly-once sends, shared by incident
deliveries (activities/deliveries.py) and handoff notices (activities/handoffs.py).

The protocol: claim the notification's key (a row in "sending", or the row an earlier run
left), count the attempt and commit it *before* the channel is called (for a new key, in the
claim's own statement), record every attempt's outcome, and finish the row with its final
status. A retry that finds an attempt counted but no final status cannot know whether that
attempt reached the channel; what it does then is up to the caller (ask the channel, or send
again with the same ids).
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import Executable, Update, update
from sqlalchemy.dialects.postgresql import Insert, insert
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from models.columns import utcnow
from models.db import autocommit, session_scope
from models.notifications import Notification, NotificationAttempt
from tocsin.metrics import NOTIFICATIONS
from workflows.notifications import DeliveryResult

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


class NotificationLedger:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def claim(
        self,
        key: str,
        *,
        incident_id: str,
        channel: str,
        purpose: str,
        event_type: str,
        address: str,
        user_id: str | None,
        step: int | None = None,
        round: int | None = None,
        first_attempt: bool = False,
    ) -> tuple[Notification, bool]:
        """The row for ``key``: a new one in "sending", or the one an earlier run claimed;
        True when this call made it. ``incident_id`` is the notification's subject (a
        schedule's id for handoffs). With ``first_attempt`` a new row has its first attempt
        counted already (pass ``attempt=1`` to ``send_once``): a new key then costs one
        round trip before the channel is called instead of three."""
        fresh = (
            insert(Notification)
            .values(
                key=key,
                incident_id=incident_id,
                channel=channel,
                purpose=purpose,
                event_type=event_type,
                address=address,
                user_id=user_id,
                step=step,
                round=round,
                status="sending",
                attempts=1 if first_attempt else 0,
                created_at=utcnow(),
                updated_at=utcnow(),
            )
            .on_conflict_do_nothing()
            .returning(Notification)
        )
        # Each statement commits on its own: the claim needs no transaction around it (a
        # delivery's first call waits for these round trips).
        async with session_scope(autocommit(self._engine)) as session:
            created = (await session.scalars(fresh)).one_or_none()
            if created is not None:
                return created, True
            found = await session.exec(select(Notification).where(Notification.key == key))
            return found.one(), False

    async def send_once(
        self,
        key: str,
        max_attempts: int,
        send: Callable[[], Awaitable[Sent]],
        attempt: int | None = None,
    ) -> DeliveryResult:
        """Count the attempt (unless ``attempt``, its number, was counted by ``claim``), call
        ``send`` and record what happened. A failure finishes the row when DeliveryFailed
        says it is final or the activity's attempts are used up; otherwise it raises for
        Temporal to retry. Any other exception counts as a retryable DeliveryFailed."""
        if attempt is None:
            attempt = await self.count_attempt(key)
        try:
            sent = await send()
        except Exception as err:  # any failure is recorded; DeliveryFailed says if it is final
            failed = err if isinstance(err, DeliveryFailed) else DeliveryFailed(repr(err))
            final = not failed.retryable or activity.info().attempt >= max_attempts
            recorded = _attempt(key, attempt, False, failed.detail, failed.data)
            await self._write(
                _finished(key, "failed", failed.detail, Sent()).add_cte(recorded.cte())
                if final
                else recorded
            )
            if final:
                return _result(key, "failed", failed.detail, Sent())
            raise ApplicationError(
                failed.detail, type="DELIVERY_FAILED", next_retry_delay=retry_delay(failed)
            ) from err
        # The attempt and the final status in one statement (the attempt's insert is a
        # data-modifying CTE of the update): atomic, and one round trip per send.
        recorded = _attempt(key, attempt, True, None, sent.data)
        await self._write(_finished(key, "sent", None, sent).add_cte(recorded.cte()))
        return _result(key, "sent", None, sent)

    async def count_attempt(self, key: str) -> int:
        """Count (and commit) one more attempt before the channel is called; its number.
        One statement, committed as it runs."""
        async with autocommit(self._engine).connect() as conn:
            result = await conn.execute(
                update(Notification)
                .where(col(Notification.key) == key)
                .values(attempts=Notification.attempts + 1, updated_at=utcnow())
                .returning(col(Notification.attempts))
            )
            return int(result.scalar_one())

    async def finish(self, key: str, status: str, detail: str | None, sent: Sent) -> DeliveryResult:
        """The final status; the channel's id for what was sent (Slack: ``channel/ts``)."""
        await self._write(_finished(key, status, detail, sent))
        return _result(key, status, detail, sent)

    async def _write(self, statement: Executable) -> None:
        """One statement, committed as it runs (no BEGIN and COMMIT round trips)."""
        async with autocommit(self._engine).connect() as conn:
            await conn.execute(statement)


async def counted(channel: str, purpose: str, outcome: Awaitable[DeliveryResult]) -> DeliveryResult:
    """``outcome`` (a ledger call that sends or settles a notification) counted in
    ``tocsin_notifications_total``; a failed attempt that Temporal will retry counts as
    ``retry``. Rows already final are returned without this, so nothing counts twice."""
    try:
        result = await outcome
    except ApplicationError:
        NOTIFICATIONS.labels(channel, purpose, "retry").inc()
        raise
    NOTIFICATIONS.labels(channel, purpose, result.status).inc()
    return result


def _attempt(key: str, attempt: int, ok: bool, detail: str | None, data: dict[str, Any]) -> Insert:
    """One attempt's outcome (a replayed record changes nothing)."""
    return (
        insert(NotificationAttempt)
        .values(key=key, attempt=attempt, at=utcnow(), ok=ok, detail=detail, data=data)
        .on_conflict_do_nothing()
    )


def _finished(key: str, status: str, detail: str | None, sent: Sent) -> Update:
    external_id = sent.external_id
    if external_id is None and sent.slack_ts is not None:
        external_id = f"{sent.slack_channel}/{sent.slack_ts}"
    return (
        update(Notification)
        .where(col(Notification.key) == key)
        .values(status=status, detail=detail, external_id=external_id, updated_at=utcnow())
    )


def _result(key: str, status: str, detail: str | None, sent: Sent) -> DeliveryResult:
    return DeliveryResult(
        key=key,
        status=status,  # type: ignore[arg-type]
        detail=detail,
        slack_channel=sent.slack_channel,
        slack_ts=sent.slack_ts,
    )


# Longer than any retry policy's maximum interval would be a sender asking for hours.
MAX_RETRY_AFTER = timedelta(minutes=5)


def retry_delay(failed: DeliveryFailed) -> timedelta | None:
    """The wait a rate-limited channel asked for (its Retry-After seconds), capped; None lets
    the retry policy's backoff decide."""
    try:
        seconds = float(failed.data.get("retry_after") or "")
    except (TypeError, ValueError):
        return None
    return min(timedelta(seconds=max(seconds, 0.0)), MAX_RETRY_AFTER) if seconds > 0 else None
