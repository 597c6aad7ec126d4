"""Who is on call and the rendered shifts through the API: across DST changes, equal to
models.shifts, and changed by overrides (latest created wins)."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from models.schedule_spec import LayerSpec, OverrideSpec, ScheduleSpec
from models.shifts import Shift, layer_shifts, render
from tests.conftest import make_api_key
from tests.schedule_helpers import URL, bearer, created, layer, new_schedule, new_user


@pytest.fixture
async def admin(engine: AsyncEngine) -> dict[str, str]:
    return bearer(await make_api_key(engine, ["admin"]))


async def oncall(
    http: httpx.AsyncClient, headers: dict[str, str], schedule: dict, at: str | None = None
) -> dict[str, Any]:
    params = {"at": at} if at else {}
    response = await http.get(f"{URL}/{schedule['id']}/oncall", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def when(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_daily_handoff_stays_at_nine_local_across_berlin_dst(
    http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    ada, bob = await new_user(http, admin, "Ada"), await new_user(http, admin, "Bob")
    # Handoffs at 09:00 Berlin: ada 25 Mar, bob 26, ada 27, bob 28, ada 29 (clocks change
    # at 02:00 on 29 March: 09:00 is 08:00 UTC before, 07:00 UTC after).
    schedule = await new_schedule(http, admin, [layer([ada, bob], start="2026-03-25T09:00")])
    before = await oncall(http, admin, schedule, "2026-03-29T06:59:59Z")
    assert [u["id"] for u in before["users"]] == [bob]
    assert before["users"][0]["name"] == "Bob" and "@example.com" in before["users"][0]["email"]
    assert before["shift"] == {
        "start": "2026-03-28T08:00:00Z",
        "end": "2026-03-29T07:00:00Z",  # 23 hours
        "layer": 0,
        "overrideId": None,
    }
    after = await oncall(http, admin, schedule, "2026-03-29T09:00:00+02:00")
    assert after["at"] == "2026-03-29T07:00:00Z"
    assert [u["id"] for u in after["users"]] == [ada]
    assert (after["shift"]["start"], after["shift"]["end"]) == (
        "2026-03-29T07:00:00Z",
        "2026-03-30T07:00:00Z",
    )

    # Autumn: 25 October, 03:00 CEST → 02:00 CET; the shift across it lasts 25 hours.
    autumn = await new_schedule(http, admin, [layer([ada, bob], start="2026-10-20T09:00")])
    shift = (await oncall(http, admin, autumn, "2026-10-25T01:30:00Z"))["shift"]
    assert (shift["start"], shift["end"]) == ("2026-10-24T07:00:00Z", "2026-10-25T08:00:00Z")

    # A weekly Monday 09:00 handoff: 08:00 UTC on 23 March, 07:00 UTC on 30 March.
    weekly = {"kind": "weekly", "handoffWeekday": 0, "handoffTime": "09:00"}
    week = await new_schedule(
        http, admin, [layer([ada, bob], start="2026-03-16T09:00", shift=weekly)]
    )
    shift = (await oncall(http, admin, week, "2026-03-25T12:00:00Z"))["shift"]
    assert (shift["start"], shift["end"]) == ("2026-03-23T08:00:00Z", "2026-03-30T07:00:00Z")


async def test_long_shifts_are_reported_whole(
    http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    ada, bob = await new_user(http, admin), await new_user(http, admin, "Bob")
    schedule = await new_schedule(
        http,
        admin,
        [layer([ada, bob], start="2026-01-01T00:00", shift={"kind": "days", "days": 30})],
        time_zone="UTC",
    )
    found = await oncall(http, admin, schedule, "2026-02-15T00:00:00Z")
    assert [u["id"] for u in found["users"]] == [bob]
    assert (found["shift"]["start"], found["shift"]["end"]) == (
        "2026-01-31T00:00:00Z",
        "2026-03-02T00:00:00Z",
    )


async def test_nobody_on_call_is_an_empty_answer(
    http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    ada = await new_user(http, admin)
    office = [{"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "17:00"}]
    schedule = await new_schedule(
        http, admin, [layer([ada], start="2026-03-02T00:00", restrictions=office)]
    )
    saturday = await oncall(http, admin, schedule, "2026-03-07T12:00:00Z")
    assert saturday == {"at": "2026-03-07T12:00:00Z", "users": [], "shift": None}
    before_start = await oncall(http, admin, schedule, "2026-03-01T12:00:00Z")
    assert before_start["users"] == [] and before_start["shift"] is None
    monday = await oncall(http, admin, schedule, "2026-03-02T12:00:00Z")
    assert monday["shift"] == {
        "start": "2026-03-02T08:00:00Z",
        "end": "2026-03-02T16:00:00Z",
        "layer": 0,
        "overrideId": None,
    }

    empty = await new_schedule(http, admin, [])
    assert (await oncall(http, admin, empty, "2026-03-02T12:00:00Z"))["users"] == []


async def test_at_defaults_to_now(
    http: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    ada = await new_user(http, admin)
    schedule = await new_schedule(http, admin, [layer([ada], start="2020-01-01T00:00")])
    reader = bearer(await make_api_key(engine, ["services:read"]))
    found = await oncall(http, reader, schedule)
    assert abs(when(found["at"]) - datetime.now(UTC)) < timedelta(minutes=1)
    assert [u["id"] for u in found["users"]] == [ada]


def expected(spec: ScheduleSpec, shifts: list[Shift], overrides: list[dict]) -> list[dict]:
    return [
        {
            "userId": s.user_id,
            "start": s.start,
            "end": s.end,
            "layer": s.layer,
            "overrideId": None if s.override is None else overrides[s.override]["id"],
        }
        for s in shifts
    ]


def answered(shifts: list[dict]) -> list[dict]:
    return [
        {
            "userId": s["userId"],
            "start": when(s["start"]),
            "end": when(s["end"]),
            "layer": s["layer"],
            "overrideId": s["overrideId"],
        }
        for s in shifts
    ]


async def test_shifts_equal_the_renderer_and_overrides_change_who_is_on_call(
    http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    ada, bob = await new_user(http, admin, "Ada"), await new_user(http, admin, "Bob")
    cy, dee = await new_user(http, admin, "Cy"), await new_user(http, admin, "Dee")
    evenings = [{"days": [0, 1, 2, 3, 4], "start": "18:00", "end": "22:00"}]
    weekly = {"kind": "weekly", "handoffWeekday": 0, "handoffTime": "09:00"}
    schedule = await new_schedule(
        http,
        admin,
        [
            layer([ada, bob], start="2026-03-23T09:00", shift=weekly, name="primary"),
            layer([cy], start="2026-03-16T00:00", end="2026-04-10T00:00", restrictions=evenings),
        ],
    )
    url = f"{URL}/{schedule['id']}"
    at = "2026-03-24T10:00:00Z"  # Tuesday 11:00 CET: ada's week, no evening layer
    assert [u["id"] for u in (await oncall(http, admin, schedule, at))["users"]] == [ada]

    older = await created(
        http,
        admin,
        f"{url}/overrides",
        {"userId": dee, "start": "2026-03-24T08:00:00Z", "end": "2026-03-25T08:00:00Z"},
    )
    found = await oncall(http, admin, schedule, at)
    assert [u["id"] for u in found["users"]] == [dee]
    assert found["shift"] == {
        "start": "2026-03-24T08:00:00Z",
        "end": "2026-03-25T08:00:00Z",
        "layer": None,
        "overrideId": older["id"],
    }
    newer = await created(
        http,
        admin,
        f"{url}/overrides",
        {"userId": bob, "start": "2026-03-24T09:00:00Z", "end": "2026-03-24T11:00:00Z"},
    )
    assert [u["id"] for u in (await oncall(http, admin, schedule, at))["users"]] == [bob]
    # Replaces only cy (the evening layer), so ada's daytime is untouched.
    await created(
        http,
        admin,
        f"{url}/overrides",
        {
            "userId": dee,
            "start": "2026-03-26T00:00:00Z",
            "end": "2026-03-28T00:00:00Z",
            "replacesUserId": cy,
        },
    )
    assert [
        u["id"] for u in (await oncall(http, admin, schedule, "2026-03-26T10:00:00Z"))["users"]
    ] == [ada]
    evening = await oncall(http, admin, schedule, "2026-03-26T18:00:00Z")  # 19:00 CET
    assert [u["id"] for u in evening["users"]] == [dee]

    window = {"from": "2026-03-20T00:00:00+01:00", "to": "2026-04-15T00:00:00+02:00"}
    response = await http.get(f"{url}/shifts", params=window, headers=admin)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["scheduleId"], body["timeZone"]) == (schedule["id"], "Europe/Berlin")
    assert (body["from"], body["to"]) == ("2026-03-19T23:00:00Z", "2026-04-14T22:00:00Z")
    names = {ada: "Ada", bob: "Bob", cy: "Cy", dee: "Dee"}
    assert all(s["userName"] == names[s["userId"]] for s in body["shifts"])

    listed = await http.get(
        f"{url}/overrides", params={"from": "2026-03-01T00:00:00Z"}, headers=admin
    )
    overrides = sorted(listed.json()["overrides"], key=lambda o: o["createdAt"])
    assert [o["id"] for o in overrides][:2] == [older["id"], newer["id"]]
    spec = ScheduleSpec(
        time_zone="Europe/Berlin",
        layers=[
            LayerSpec.model_validate({k: v for k, v in lay.items() if k != "name"})
            for lay in schedule["layers"]
        ],
        overrides=[
            OverrideSpec(
                user_id=o["userId"],
                start=when(o["start"]),
                end=when(o["end"]),
                replaces_user_id=o["replacesUserId"],
                created_at=when(o["createdAt"]),
            )
            for o in overrides
        ],
    )
    lo, hi = when(body["from"]), when(body["to"])
    assert answered(body["shifts"]) == expected(spec, render(spec, lo, hi), overrides)
    assert any(s["layer"] == 1 for s in body["shifts"])  # evenings show through

    one = await http.get(f"{url}/shifts", params=window | {"layer": 1}, headers=admin)
    assert answered(one.json()["shifts"]) == expected(spec, layer_shifts(spec, 1, lo, hi), [])

    # Deleting the newer override lets the older one show again.
    await http.delete(f"{url}/overrides/{newer['id']}", headers=admin)
    assert [u["id"] for u in (await oncall(http, admin, schedule, at))["users"]] == [dee]


async def test_shifts_default_to_two_weeks_from_now(
    http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    ada, bob = await new_user(http, admin), await new_user(http, admin, "Bob")
    schedule = await new_schedule(http, admin, [layer([ada, bob], start="2020-01-06T09:00")])
    body = (await http.get(f"{URL}/{schedule['id']}/shifts", headers=admin)).json()
    start, end = when(body["from"]), when(body["to"])
    assert abs(start - datetime.now(UTC)) < timedelta(minutes=1)
    assert end - start == timedelta(days=14)
    assert len(body["shifts"]) in (14, 15)
    assert body["shifts"][0]["start"] == body["from"] and body["shifts"][-1]["end"] == body["to"]


async def test_the_docs_example(http: httpx.AsyncClient, admin: dict[str, str]) -> None:
    """docs/schedules.md's API example answers what the page says."""
    ada, bob = await new_user(http, admin, "Ada"), await new_user(http, admin, "Bob")
    cy = await new_user(http, admin, "Cy")
    weekly = {"kind": "weekly", "handoffWeekday": 0, "handoffTime": "09:00"}
    evenings = [{"days": [0, 1, 2, 3, 4], "start": "18:00", "end": "22:00"}]
    schedule = await new_schedule(
        http,
        admin,
        [
            layer([ada, bob], start="2026-03-02T09:00", shift=weekly, name="weekly"),
            layer(
                [cy],
                start="2026-03-02T00:00",
                shift={"kind": "days", "days": 7},
                restrictions=evenings,
                name="evenings",
            ),
        ],
    )
    found = await oncall(http, admin, schedule, "2026-03-29T09:00:00+02:00")
    assert found["at"] == "2026-03-29T07:00:00Z"
    assert [u["id"] for u in found["users"]] == [bob]
    assert found["shift"] == {
        "start": "2026-03-27T21:00:00Z",
        "end": "2026-03-30T07:00:00Z",
        "layer": 0,
        "overrideId": None,
    }
