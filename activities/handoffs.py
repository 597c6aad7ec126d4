"""Handoff notifications' activities: the next handoff of a schedule, who to tell about one
and how, and sending one message exactly once.

A handoff at instant t is someone coming on call at t who was not on call just before (per
the final, rendered schedule: layers, restrictions and overrides), so a person whose shift
runs on from an override, or a one-person rotation, is not told again. The workflow passes
every instant in (workflow time), so a retried activity asks about the same moment.

Exactly once like incident deliveries, on the same ledger (activities/notification_ledger.py):
the ``notification`` row for the notice's key is claimed and the attempt counted before the
send; a Slack retry after an unknown outcome looks for the key in the DM's message metadata
first (activities/slack.py ``find_message``); email goes out through activities/email.py's
``send_message``. The row's ``incident_id`` holds the schedule id (the subject of the
notification), ``purpose`` "handoff".
"""

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select
from temporalio import activity

from activities.email import TIMEOUT_SECONDS as EMAIL_TIMEOUT_SECONDS
from activities.email import send_message
from activities.email_message import message_id
from activities.names import HANDOFF_NOTICES, PLAN_HANDOFF, SEND_HANDOFF
from activities.notification_ledger import FINAL, NotificationLedger, Sent, counted
from activities.slack import find_message, message_metadata, post_message
from activities.slack_client import NOT_CONFIGURED, dm_channel, user_id_for
from models.columns import utcnow
from models.db import session_scope
from models.notifications import ContactMethod, Notification
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


def handoff_email(notice: HandoffNotice, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = notice.address
    message["Subject"] = notice.subject
    message["Message-ID"] = message_id(notice.key)
    message["Date"] = format_datetime(utcnow())
    message["X-Tocsin-Schedule"] = notice.schedule_id
    message["X-Tocsin-Delivery"] = notice.key
    message.set_content(notice.text + "\n")
    return message


# --- activities ------------------------------------------------------------------------------


class HandoffActivities:
    def __init__(
        self, engine: AsyncEngine, settings: Settings, slack: AsyncWebClient | None
    ) -> None:
        """``slack`` is the worker's shared client (None without a bot token); its maker
        closes it."""
        self._engine = engine
        self._ledger = NotificationLedger(engine)
        self._settings = settings
        self._slack = slack

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
        row, _ = await self._ledger.claim(
            notice.key,
            incident_id=notice.schedule_id,
            channel=notice.channel.value,
            purpose=PURPOSE,
            event_type=EVENT_TYPE,
            address=notice.address,
            user_id=notice.recipient.user_id,
        )
        if row.status in FINAL:
            return DeliveryResult(key=row.key, status=row.status, detail=row.detail)  # type: ignore[arg-type]
        return await counted(notice.channel.value, PURPOSE, self._settle(notice, row))

    async def _settle(self, notice: HandoffNotice, row: Notification) -> DeliveryResult:
        reason = self._unavailable(notice.channel)
        if reason is not None:
            return await self._ledger.finish(notice.key, "skipped", reason, Sent())
        if row.attempts > 0 and notice.channel == Channel.SLACK:
            found = await self._find_slack(notice, row.created_at)
            if found is not None:
                return await self._ledger.finish(notice.key, "sent", "found after a retry", found)
        return await self._ledger.send_once(
            notice.key,
            notice.max_attempts,
            lambda: (
                self._send_slack(notice)
                if notice.channel == Channel.SLACK
                else self._send_email(notice)
            ),
        )

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
        posted = await post_message(
            self._slack,
            user,
            text=notice.text,
            metadata=message_metadata(notice.key, schedule_id=notice.schedule_id),
        )
        channel, ts = str(posted["channel"]), str(posted["ts"])
        return Sent(external_id=f"{channel}/{ts}", data={"channel": channel, "ts": ts})

    async def _find_slack(self, notice: HandoffNotice, since: datetime) -> Sent | None:
        """The DM an earlier attempt posted, found by the key in its metadata."""
        assert self._slack is not None
        channel = await dm_channel(self._slack, notice.address)
        ts = await find_message(
            self._slack, "conversations.history", notice.key, since, channel=channel
        )
        return None if ts is None else Sent(external_id=f"{channel}/{ts}", data={"found": True})

    async def _send_email(self, notice: HandoffNotice) -> Sent:
        message = handoff_email(notice, self._settings.smtp_from)
        await send_message(self._settings, message, EMAIL_TIMEOUT_SECONDS)
        return Sent(external_id=message["Message-ID"], data={"message_id": message["Message-ID"]})
