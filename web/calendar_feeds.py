"""iCalendar (RFC 5545) feeds of on-call shifts, for calendar apps: one per schedule or per
person, at a secret URL.

Calendar apps cannot send an Authorization header, so the token in the URL is the whole
credential: it is shown once and only its SHA-256 is stored (like API keys). A feed lists
the final shifts from 7 days ago to 90 days ahead, one event per shift, each with a UID made
of the schedule, the shift's start and the person, so an app updates an event in place when
the shift's end changes and replaces it when the shift moves.
"""

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from icalendar import Calendar, Event
from quart import Blueprint, Response
from quart_schema import document_response, tag

from models.db import session_scope
from models.schedule_reads import ShiftView, schedule_shifts, user_shifts
from models.schedules import CalendarFeed, Schedule
from models.schedules_store import create_feed, find_feed, revoke_feeds
from models.user import User
from web.errors import error_responses
from web.management import not_found, unrestricted_principal
from web.runtime import runtime
from web.schedule_schemas import CalendarFeedCreated, CalendarFeedsRevoked

blueprint = Blueprint("calendar_feeds", __name__)

PAST = timedelta(days=7)
AHEAD = timedelta(days=90)
# Rendered this far before the feed's first day too, so a shift that started before it
# keeps its real start (and so its UID) instead of one clipped to the window.
LOOKBACK = timedelta(days=31)
PRODID = "-//Tocsin//On-call schedules//EN"


@blueprint.post("/api/schedules/<schedule_id>/calendar-feeds")
@tag(["schedules"])
@document_response(CalendarFeedCreated, 201)
@error_responses(401, 403, 404)
async def post_schedule_feed(schedule_id: str) -> tuple[dict[str, Any], int]:
    """A new secret feed URL of the schedule's shifts (scope services:write); the token is
    shown once."""
    await unrestricted_principal("services:write")
    async with session_scope(runtime().engine) as session:
        if await session.get(Schedule, schedule_id) is None:
            raise not_found("Schedule")
        feed, token = await create_feed(session, schedule_id=schedule_id)
    return _created(feed, token), 201


@blueprint.delete("/api/schedules/<schedule_id>/calendar-feeds")
@tag(["schedules"])
@document_response(CalendarFeedsRevoked, 200)
@error_responses(401, 403, 404)
async def delete_schedule_feeds(schedule_id: str) -> dict[str, Any]:
    """Revoke every feed of the schedule: their URLs answer 404 (scope services:write)."""
    await unrestricted_principal("services:write")
    async with session_scope(runtime().engine) as session:
        if await session.get(Schedule, schedule_id) is None:
            raise not_found("Schedule")
        revoked = await revoke_feeds(session, schedule_id=schedule_id)
    return CalendarFeedsRevoked(revoked=revoked).model_dump(mode="json", by_alias=True)


@blueprint.post("/api/users/<user_id>/calendar-feeds")
@tag(["users"])
@document_response(CalendarFeedCreated, 201)
@error_responses(401, 403, 404)
async def post_user_feed(user_id: str) -> tuple[dict[str, Any], int]:
    """A new secret feed URL of one person's shifts across every schedule (scope
    users:write); the token is shown once."""
    await unrestricted_principal("users:write")
    async with session_scope(runtime().engine) as session:
        if await session.get(User, user_id) is None:
            raise not_found("User")
        feed, token = await create_feed(session, user_id=user_id)
    return _created(feed, token), 201


@blueprint.delete("/api/users/<user_id>/calendar-feeds")
@tag(["users"])
@document_response(CalendarFeedsRevoked, 200)
@error_responses(401, 403)
async def delete_user_feeds(user_id: str) -> dict[str, Any]:
    """Revoke every feed of the person's shifts (scope users:write)."""
    await unrestricted_principal("users:write")
    async with session_scope(runtime().engine) as session:
        revoked = await revoke_feeds(session, user_id=user_id)
    return CalendarFeedsRevoked(revoked=revoked).model_dump(mode="json", by_alias=True)


@blueprint.get("/api/calendar/<token>.ics")
@tag(["schedules"])
@error_responses(404)
async def get_feed(token: str) -> Response:
    """The feed as ``text/calendar``; no Authorization header: the token is the credential.
    An unknown or revoked token is a 404."""
    now = datetime.now(UTC).replace(microsecond=0)
    start, end = now - PAST, now + AHEAD
    async with session_scope(runtime().engine) as session:
        feed = await find_feed(session, token)
        if feed is None:
            raise not_found("Calendar feed")
        if feed.schedule_id is not None:
            found = await schedule_shifts(session, feed.schedule_id, start - LOOKBACK, end)
            if found is None:
                raise not_found("Calendar feed")
            schedule, views = found
            title = f"On call: {schedule.name}"
            events = [(view, f"{view.user_name or view.user_id} on call") for view in views]
        else:
            user = await session.get(User, feed.user_id) if feed.user_id else None
            if user is None:
                raise not_found("Calendar feed")
            title = f"{user.name}: on call"
            pairs = await user_shifts(session, user.id, start - LOOKBACK, end)
            events = [(view, f"On call: {schedule.name}") for schedule, view in pairs]
    body = ics(title, ((v, s) for v, s in events if v.end > start), stamp=now)
    return Response(body, status=200, content_type="text/calendar; charset=utf-8")


def ics(title: str, events: Iterable[tuple[ShiftView, str]], *, stamp: datetime) -> bytes:
    """A VCALENDAR with one VEVENT per shift (UTC times); pure, for the feed and tests."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", title)
    for view, summary in events:
        event = Event()
        event.add("uid", shift_uid(view))
        event.add("dtstamp", stamp)
        event.add("dtstart", view.start.astimezone(UTC))
        event.add("dtend", view.end.astimezone(UTC))
        event.add("summary", summary)
        if view.override_id is not None:
            event.add("description", "Override")
        calendar.add_component(event)
    return bytes(calendar.to_ical())


def shift_uid(view: ShiftView) -> str:
    return f"{view.schedule_id}-{view.start.astimezone(UTC):%Y%m%dT%H%M%SZ}-{view.user_id}@tocsin"


def _created(feed: CalendarFeed, token: str) -> dict[str, Any]:
    base = runtime().settings.public_url.rstrip("/")
    out = CalendarFeedCreated(
        id=feed.id,
        schedule_id=feed.schedule_id,
        user_id=feed.user_id,
        url=f"{base}/api/calendar/{token}.ics",
        token=token,
        created_at=feed.created_at,
    )
    return out.model_dump(mode="json", by_alias=True)
