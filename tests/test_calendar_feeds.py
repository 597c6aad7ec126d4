"""iCalendar feeds: the .ics parses and lists the final shifts (UTC, stable UIDs), the token
is stored only hashed and works without an Authorization header, revoking ends it."""

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from icalendar import Calendar
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from models.db import session_scope
from models.schedules import CalendarFeed
from tests.conftest import make_api_key
from tests.schedule_helpers import URL, bearer, created, layer, new_schedule, new_user
from tocsin.keys import hash_key

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
async def admin(engine: AsyncEngine) -> dict[str, str]:
    return bearer(await make_api_key(engine, ["admin"]))


def days_ago(days: int, clock: str = "09:00") -> str:
    return f"{(datetime.now(BERLIN) - timedelta(days=days)).date()}T{clock}"


async def feed_events(http: httpx.AsyncClient, token: str) -> list[dict[str, Any]]:
    response = await http.get(f"/api/calendar/{token}.ics")  # no Authorization header
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/calendar")
    assert b"TZID" not in response.content  # every time in UTC
    calendar = Calendar.from_ical(response.content)
    assert str(calendar["version"]) == "2.0" and "Tocsin" in str(calendar["prodid"])
    events = [
        {
            "uid": str(event["uid"]),
            "summary": str(event["summary"]),
            "start": event.decoded("dtstart"),
            "end": event.decoded("dtend"),
        }
        for event in calendar.walk("VEVENT")
    ]
    for event in events:
        assert event["start"].utcoffset() == timedelta(0) and event["end"] > event["start"]
    return sorted(events, key=lambda e: e["start"])


def uid(schedule_id: str, start: datetime, user_id: str) -> str:
    return f"{schedule_id}-{start.astimezone(UTC):%Y%m%dT%H%M%SZ}-{user_id}@tocsin"


async def test_schedule_feed_lists_the_final_shifts(
    http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    ada, bob = await new_user(http, admin, "Ada"), await new_user(http, admin, "Bob")
    schedule = await new_schedule(http, admin, [layer([ada, bob], start=days_ago(60))])
    sid = schedule["id"]
    feed = await created(http, admin, f"{URL}/{sid}/calendar-feeds", {})
    token = feed["token"]
    assert feed | {"scheduleId": sid, "userId": None} == feed
    assert feed["url"] == f"http://127.0.0.1:8080/api/calendar/{token}.ics"

    events = await feed_events(http, token)
    now = datetime.now(UTC)
    names = {ada: "Ada", bob: "Bob"}
    # Daily shifts at 09:00 Berlin, back to back, from the one running 7 days ago (whole)
    # to 90 days ahead.
    assert events[0]["start"] <= now - timedelta(days=7) < events[0]["end"]
    assert abs(events[-1]["end"] - (now + timedelta(days=90))) < timedelta(minutes=1)
    assert 97 <= len(events) <= 99
    for event, following in pairwise(events):
        assert event["end"] == following["start"]
    for event in events[:-1]:
        assert event["start"].astimezone(BERLIN).strftime("%H:%M") == "09:00"
        user = event["uid"].split("-")[-1].removesuffix("@tocsin")
        assert event["uid"] == uid(sid, event["start"], user)
        assert event["summary"] == f"{names[user]} on call"
    assert len({e["uid"] for e in events}) == len(events)

    # The same shifts as the API's, event for event.
    lo, hi = now + timedelta(days=10), now + timedelta(days=20)
    window = {"from": lo.isoformat(), "to": hi.isoformat()}
    shifts = (await http.get(f"{URL}/{sid}/shifts", params=window, headers=admin)).json()
    by_uid = {e["uid"]: e for e in events}
    for shift in shifts["shifts"][1:-1]:  # the first and last are clipped to the window
        event = by_uid[uid(sid, datetime.fromisoformat(shift["start"]), shift["userId"])]
        assert event["end"] == datetime.fromisoformat(shift["end"])

    # An override shows as its own event.
    start = (now + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    await created(
        http,
        admin,
        f"{URL}/{sid}/overrides",
        {
            "userId": bob,
            "start": start.isoformat(),
            "end": (start + timedelta(hours=5)).isoformat(),
        },
    )
    covered = [e for e in await feed_events(http, token) if e["start"] == start]
    assert covered == [
        {
            "uid": uid(sid, start, bob),
            "summary": "Bob on call",
            "start": start,
            "end": start + timedelta(hours=5),
        }
    ]


async def test_tokens_are_stored_hashed_and_revocable(
    http: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    ada = await new_user(http, admin)
    schedule = await new_schedule(http, admin, [layer([ada], start=days_ago(3))])
    url = f"{URL}/{schedule['id']}/calendar-feeds"
    first = await created(http, admin, url, {})
    second = await created(http, admin, url, {})
    assert first["token"] != second["token"]
    async with session_scope(engine) as session:
        rows = (
            await session.exec(
                select(CalendarFeed).where(CalendarFeed.schedule_id == schedule["id"])
            )
        ).all()
    assert {row.token_hash for row in rows} == {
        hash_key(first["token"]),
        hash_key(second["token"]),
    }
    for row in rows:
        assert first["token"] not in row.model_dump_json()
        assert second["token"] not in row.model_dump_json()

    assert len(await feed_events(http, first["token"])) >= 1
    # The stored hash is not a token, and unknown tokens are 404.
    for bad in (hash_key(first["token"]), "cal_nothing", first["token"][:-1]):
        response = await http.get(f"/api/calendar/{bad}.ics")
        assert response.status_code == 404 and response.json()["error"]["code"] == "NOT_FOUND"

    reader = bearer(await make_api_key(engine, ["services:read"]))
    assert (await http.post(url, headers=reader)).status_code == 403
    assert (await http.delete(url, headers=reader)).status_code == 403

    revoked = await http.delete(url, headers=admin)
    assert revoked.status_code == 200 and revoked.json() == {"revoked": 2}
    for feed in (first, second):
        assert (await http.get(f"/api/calendar/{feed['token']}.ics")).status_code == 404
    assert (await http.delete(url, headers=admin)).json() == {"revoked": 0}

    third = await created(http, admin, url, {})
    assert (await http.delete(f"{URL}/{schedule['id']}", headers=admin)).status_code == 200
    assert (await http.get(f"/api/calendar/{third['token']}.ics")).status_code == 404


async def test_user_feed_spans_every_schedule(
    http: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    ada, bob = await new_user(http, admin, "Ada"), await new_user(http, admin, "Bob")
    weekly = {"kind": "weekly", "handoffWeekday": 0, "handoffTime": "09:00"}
    alone = await new_schedule(http, admin, [layer([ada], start=days_ago(30), shift=weekly)])
    shared = await new_schedule(http, admin, [layer([bob, ada], start=days_ago(30))])
    others = await new_schedule(http, admin, [layer([bob], start=days_ago(30))])
    start = (datetime.now(UTC) + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    end = start + timedelta(hours=8)
    await created(
        http,
        admin,
        f"{URL}/{others['id']}/overrides",
        {"userId": ada, "start": start.isoformat(), "end": end.isoformat()},
    )
    unrelated = await new_schedule(http, admin, [layer([bob], start=days_ago(30))])

    writer = bearer(await make_api_key(engine, ["services:write"]))
    url = f"/api/users/{ada}/calendar-feeds"
    assert (await http.post(url, headers=writer)).status_code == 403
    assert (await http.post("/api/users/usr_nobody/calendar-feeds", headers=admin)).status_code == (
        404
    )
    feed = await created(http, admin, url, {})
    assert feed["userId"] == ada and feed["scheduleId"] is None

    events = await feed_events(http, feed["token"])
    by_schedule: dict[str, list[dict]] = {}
    for event in events:
        schedule_id = event["uid"].split("-")[0]
        by_schedule.setdefault(schedule_id, []).append(event)
        assert event["uid"].endswith(f"-{ada}@tocsin")
    assert set(by_schedule) == {alone["id"], shared["id"], others["id"]}
    assert unrelated["id"] not in by_schedule
    assert {e["summary"] for e in by_schedule[alone["id"]]} == {f"On call: {alone['name']}"}
    assert {e["summary"] for e in by_schedule[shared["id"]]} == {f"On call: {shared['name']}"}
    assert [(e["start"], e["end"]) for e in by_schedule[others["id"]]] == [(start, end)]
    # ada alone: one back-to-back run of weekly shifts (merged into one event per shift
    # source, so a single continuous event here).
    assert len(by_schedule[alone["id"]]) == 1
    # Every other day in the shared schedule.
    shared_events = by_schedule[shared["id"]]
    assert all(e["end"] - e["start"] <= timedelta(hours=25) for e in shared_events[:-1])

    revoked = await http.delete(url, headers=admin)
    assert revoked.json() == {"revoked": 1}
    assert (await http.get(f"/api/calendar/{feed['token']}.ics")).status_code == 404

    again = await created(http, admin, url, {})
    assert (await http.delete(f"/api/users/{ada}", headers=admin)).status_code == 200
    assert (await http.get(f"/api/calendar/{again['token']}.ics")).status_code == 404
