"""Handoff notifications' activities: the next handoff of a schedule, who to tell about one
and how, and sending one message exactly once.

A handoff at instant t is someone coming on call at t who was not on call just before (per
the final, rendered schedule: layers, restrictions and overrides), so a person whose shift
runs on from an override, or a one-person rotation, is not told again. The workflow passes
every instant in (workflow time), so a retried activity asks about the same moment.

Exactly once like incident deliveries (activities/deliveries.py): the ``notification`` row
for the notice's key is claimed and the attempt counted before the send; a Slack retry after
an unknown outcome looks for the key in the DM's message metadata first. The row's
``incident_id`` holds the schedule id (the subject of the notification), ``purpose``
"handoff".
"""

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import aiosmtplib
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.deliveries import DeliveryFailed, Sent
from activities.email_message import message_id
from activities.names import HANDOFF_NOTICES, PLAN_HANDOFF, SEND_HANDOFF
from activities.slack import METADATA_EVENT_TYPE
from activities.slack_client import NOT_CONFIGURED, calling, pages, slack_client, user_id_for
from models.columns import utcnow
from models.db import session_scope
from models.notifications import ContactMethod, Notification, NotificationAttempt
from models.schedules import load_spec
from models.shifts import Shift, render
from models.user import User
from tocsin.settings import Settings
from workflows.delivery_plan import BUDGETS
from workflows.notifications import (
    Channel,
    DeliveryResult,
    HandoffAt,
    HandoffNotice,
    HandoffPlan,
    HandoffPlanIn,
    Recipient,
)

# How far ahead a plan looks; with no handoff in it the workflow re-plans at its end.
LOOKAHEAD = timedelta(days=14)
PURPOSE = "handoff"
EVENT_TYPE = "schedule.handoff"
_TICK = timedelta(microseconds=1)
SMTP_TIMEOUT_SECONDS = 15.0
HISTORY_PAGES = 10


# --- pure ------------------------------------------------------------------------------------


def on_call(shifts: Sequence[Shift], at: datetime) -> set[str]:
    return {s.user_id for s in shifts if s.start <= at < s.end}


def incoming(shifts: Sequence[Shift], at: datetime) -> list[str]:
    """Who comes on call at ``at`` (``shifts`` must cover ``at`` and just before it)."""
    return sorted(on_call(shifts, at) - on_call(shifts, at - _TICK))


def next_handoff(shifts: Sequence[Shift], after: datetime) -> tuple[datetime, list[str]] | None:
    """The first handoff strictly after ``after`` in shifts rendered from ``after`` on."""
    for start in sorted({s.start for s in shifts if s.start > after}):
        users = incoming(shifts, start)
        if users:
            return start, users
    return None


def on_call_until(
    shifts: Sequence[Shift], user_id: str, at: datetime, horizon: datetime
) -> datetime | None:
    """When ``user_id``'s unbroken time on call from ``at`` ends; None if it runs on past
    ``horizon`` (the end of the rendered window)."""
    end = at
    for shift in sorted((s for s in shifts if s.user_id == user_id), key=lambda s: s.start):
        if shift.start <= end < shift.end:
            end = shift.end
    return None if end >= horizon else end


def handoff_key(schedule_id: str, start: datetime, user_id: str, channel: str, address: str) -> str:
    """Exactly once per (schedule, shift start, person, channel, address)."""
    digest = hashlib.sha256(address.encode()).hexdigest()[:16]
    return f"handoff/{schedule_id}/{start.astimezone(UTC).isoformat()}/{user_id}/{channel}/{digest}"


def notice_text(schedule: str, start: datetime, until: datetime | None, zone: str) -> str:
    shown = f"from {_local(start, zone)}"
    if until is not None:
        shown += f" until {_local(until, zone)}"
    return f"You are now on call for {schedule}, {shown}."


def _local(instant: datetime, zone: str) -> str:
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo("UTC")
    return instant.astimezone(tz).strftime("%a %Y-%m-%d %H:%M %Z")


def addresses(user: User, methods: Sequence[ContactMethod]) -> list[tuple[Channel, str]]:
    """A Slack DM per Slack contact method and an email per email contact method; the
    account's email when the person has neither."""
    out = [
        (Channel(m.type), m.address) for m in methods if m.type in (Channel.SLACK, Channel.EMAIL)
    ]
    return out or [(Channel.EMAIL, user.email)]


# --- activities ------------------------------------------------------------------------------


class HandoffActivities:
    def __init__(self, engine: AsyncEngine, settings: Settings) -> None:
        self._engine = engine
        self._settings = settings
        self._slack = slack_client(settings)

    @activity.defn(name=PLAN_HANDOFF)
    async def plan(self, request: HandoffPlanIn) -> HandoffPlan:
        after, horizon = request.after, request.after + LOOKAHEAD
        async with session_scope(self._engine) as session:
            loaded = await load_spec(session, request.schedule_id, after, horizon)
        if loaded is None or not loaded[0].handoff_notifications:
            return HandoffPlan(active=False)
        found = next_handoff(render(loaded[1], after, horizon), after)
        if found is None:
            return HandoffPlan(active=True, horizon=horizon)
        return HandoffPlan(active=True, at=found[0], user_ids=found[1], horizon=horizon)

    @activity.defn(name=HANDOFF_NOTICES)
    async def notices(self, handoff: HandoffAt) -> list[HandoffNotice]:
        """The messages for the people coming on call at ``handoff.start`` (re-read, so a
        change that was not signalled still counts); none if notifications are off."""
        start = handoff.start
        lo, hi = start - _TICK, start + LOOKAHEAD
        async with session_scope(self._engine) as session:
            loaded = await load_spec(session, handoff.schedule_id, lo, hi)
            if loaded is None or not loaded[0].handoff_notifications:
                return []
            schedule, spec, _ = loaded
            shifts = render(spec, lo, hi)
            user_ids = incoming(shifts, start)
            if not user_ids:
                return []
            users = (await session.exec(select(User).where(col(User.id).in_(user_ids)))).all()
            methods = (
                await session.exec(
                    select(ContactMethod)
                    .where(col(ContactMethod.user_id).in_(user_ids))
                    .order_by(col(ContactMethod.created_at), col(ContactMethod.id))
                )
            ).all()
        out: list[HandoffNotice] = []
        for user in sorted(users, key=lambda u: u.id):
            text = notice_text(
                schedule.name, start, on_call_until(shifts, user.id, start, hi), user.timezone
            )
            own = [m for m in methods if m.user_id == user.id]
            for channel, address in addresses(user, own):
                out.append(
                    HandoffNotice(
                        key=handoff_key(schedule.id, start, user.id, channel.value, address),
                        schedule_id=schedule.id,
                        channel=channel,
                        address=address,
                        recipient=Recipient(user_id=user.id, name=user.name),
                        subject=f"[Tocsin] You are on call for {schedule.name}",
                        text=text,
                        max_attempts=BUDGETS[channel].max_attempts,
                    )
                )
        return out

    @activity.defn(name=SEND_HANDOFF)
    async def send(self, notice: HandoffNotice) -> DeliveryResult:
        row = await self._claim(notice)
        if row.status in ("sent", "failed", "skipped"):
            return DeliveryResult(key=row.key, status=row.status, detail=row.detail)  # type: ignore[arg-type]
        reason = self._unavailable(notice.channel)
        if reason is not None:
            return await self._finish(notice.key, "skipped", reason, Sent())
        if row.attempts > 0 and notice.channel == Channel.SLACK:
            found = await self._find_slack(notice, row.created_at)
            if found is not None:
                return await self._finish(notice.key, "sent", "found after a retry", found)
        attempt = await self._count_attempt(notice.key)
        try:
            sent = await (
                self._send_slack(notice)
                if notice.channel == Channel.SLACK
                else self._send_email(notice)
            )
        except Exception as err:  # any failure is recorded; DeliveryFailed says if it is final
            failed = err if isinstance(err, DeliveryFailed) else DeliveryFailed(repr(err))
            await self._record_attempt(notice.key, attempt, False, failed.detail, failed.data)
            if not failed.retryable or activity.info().attempt >= notice.max_attempts:
                return await self._finish(notice.key, "failed", failed.detail, Sent())
            raise ApplicationError(failed.detail, type="DELIVERY_FAILED") from err
        await self._record_attempt(notice.key, attempt, True, None, sent.data)
        return await self._finish(notice.key, "sent", None, sent)

    # --- channels ----------------------------------------------------------------------------

    def _unavailable(self, channel: Channel) -> str | None:
        if channel == Channel.SLACK and self._slack is None:
            return NOT_CONFIGURED
        if channel == Channel.EMAIL and not self._settings.smtp_host:
            return "email is not configured (TOCSIN_SMTP_HOST)"
        return None

    async def _send_slack(self, notice: HandoffNotice) -> Sent:
        assert self._slack is not None
        user = await user_id_for(self._slack, notice.address)
        with calling("chat.postMessage"):
            response = await self._slack.chat_postMessage(
                channel=user,
                text=notice.text,
                metadata={
                    "event_type": METADATA_EVENT_TYPE,
                    "event_payload": {"key": notice.key, "schedule_id": notice.schedule_id},
                },
                unfurl_links=False,
                unfurl_media=False,
            )
        channel, ts = str(response["channel"]), str(response["ts"])
        return Sent(external_id=f"{channel}/{ts}", data={"channel": channel, "ts": ts})

    async def _find_slack(self, notice: HandoffNotice, since: datetime) -> Sent | None:
        """The DM an earlier attempt posted, found by the key in its metadata."""
        assert self._slack is not None
        user = await user_id_for(self._slack, notice.address)
        with calling("conversations.open"):
            opened = await self._slack.conversations_open(users=user)
        channel = str(opened["channel"]["id"])
        oldest = f"{(since - timedelta(minutes=2)).timestamp():.6f}"
        async for page in pages(
            self._slack, "conversations.history", HISTORY_PAGES, channel=channel,
            oldest=oldest, limit=100, include_all_metadata="true",
        ):  # fmt: skip
            for message in page.get("messages", []):
                metadata = message.get("metadata") or {}
                if (metadata.get("event_payload") or {}).get("key") == notice.key:
                    ts = str(message["ts"])
                    return Sent(external_id=f"{channel}/{ts}", data={"found": True})
        return None

    async def _send_email(self, notice: HandoffNotice) -> Sent:
        s = self._settings
        message = EmailMessage()
        message["From"] = s.smtp_from
        message["To"] = notice.address
        message["Subject"] = notice.subject
        message["Message-ID"] = message_id(notice.key)
        message["Date"] = format_datetime(utcnow())
        message["X-Tocsin-Schedule"] = notice.schedule_id
        message["X-Tocsin-Delivery"] = notice.key
        message.set_content(notice.text + "\n")
        password = s.smtp_password.get_secret_value() if s.smtp_password else None
        try:
            await aiosmtplib.send(
                message,
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_username or None,
                password=password if s.smtp_username else None,
                start_tls=s.smtp_starttls,
                timeout=SMTP_TIMEOUT_SECONDS,
            )
        except aiosmtplib.SMTPResponseException as err:  # 5xx is final, 4xx worth a retry
            raise DeliveryFailed(
                f"SMTP server answered {err.code} {err.message}".strip(),
                retryable=not 500 <= err.code < 600,
                data={"smtp_code": err.code},
            ) from err
        except (aiosmtplib.SMTPException, OSError) as err:
            raise DeliveryFailed(f"SMTP failed: {err!r}") from err
        return Sent(external_id=message["Message-ID"], data={"message_id": message["Message-ID"]})

    # --- the notification row ----------------------------------------------------------------

    async def _claim(self, notice: HandoffNotice) -> Notification:
        claim = insert(Notification).values(
            key=notice.key,
            incident_id=notice.schedule_id,
            channel=notice.channel.value,
            purpose=PURPOSE,
            event_type=EVENT_TYPE,
            address=notice.address,
            user_id=notice.recipient.user_id,
            status="sending",
            attempts=0,
            created_at=utcnow(),
            updated_at=utcnow(),
        )
        async with session_scope(self._engine) as session:
            await session.execute(claim.on_conflict_do_nothing())
            found = await session.exec(select(Notification).where(Notification.key == notice.key))
            return found.one()

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
        self, key: str, attempt: int, ok: bool, detail: str | None, data: dict[str, Any]
    ) -> None:
        row = insert(NotificationAttempt).values(
            key=key, attempt=attempt, at=utcnow(), ok=ok, detail=detail, data=data
        )
        async with session_scope(self._engine) as session:
            await session.execute(row.on_conflict_do_nothing())

    async def _finish(
        self, key: str, status: str, detail: str | None, sent: Sent
    ) -> DeliveryResult:
        async with session_scope(self._engine) as session:
            await session.execute(
                update(Notification)
                .where(col(Notification.key) == key)
                .values(
                    status=status, detail=detail, external_id=sent.external_id, updated_at=utcnow()
                )
            )
        return DeliveryResult(key=key, status=status, detail=detail)  # type: ignore[arg-type]
