"""On-call shift computation, pure: worked DST examples, restrictions, layers, overrides,
validation. The instants here are the ones docs/schedules.md shows."""

import re
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from pathlib import Path
from time import perf_counter
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from models.schedule_spec import ScheduleSpec
from models.shifts import Shift, layer_shifts, local, on_call_at, render, to_utc

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def schedule(zone: str, *layers: dict[str, Any], overrides: Any = ()) -> ScheduleSpec:
    return ScheduleSpec.model_validate(
        {"timeZone": zone, "layers": list(layers), "overrides": list(overrides)}
    )


def layer(start: str, users: list[str], shift: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"start": start, "users": users, "shift": shift, **more}


def daily(at: str = "2026-01-01T09:00", users: Any = ("a", "b", "c"), **more: Any) -> dict:
    return layer(at, list(users), {"kind": "days", "days": 1}, **more)


def weekly(start: str, weekday: int, at: str, users: Any = ("a", "b"), **more: Any) -> dict:
    shift = {"kind": "weekly", "handoffWeekday": weekday, "handoffTime": at}
    return layer(start, list(users), shift, **more)


def override(user: str, start: datetime, end: datetime, created: datetime, **more: Any) -> dict:
    return {"userId": user, "start": start, "end": end, "createdAt": created, **more}


def handoffs(spec: ScheduleSpec, start: datetime, end: datetime) -> list[datetime]:
    """When layer 0's shifts start inside the window (its first edge excluded)."""
    return [s.start for s in layer_shifts(spec, 0, start, end) if s.start > start]


def walls(shifts: list[Shift], zone: str) -> list[tuple[str, str, str]]:
    z = ZoneInfo(zone)
    return [
        (f"{local(s.start, z):%a %H:%M}", f"{local(s.end, z):%a %H:%M}", s.user_id) for s in shifts
    ]


# --- the DST rules themselves ---------------------------------------------------------------


def test_to_utc_skipped_hour_is_the_next_valid_instant() -> None:
    berlin, new_york = ZoneInfo(BERLIN), ZoneInfo(NEW_YORK)
    assert to_utc(datetime(2026, 3, 29, 2, 30), berlin) == utc(2026, 3, 29, 1)  # 03:00 CEST
    assert to_utc(datetime(2026, 3, 8, 2, 30), new_york) == utc(2026, 3, 8, 7)  # 03:00 EDT


def test_to_utc_repeated_hour_is_the_first_occurrence() -> None:
    berlin, new_york = ZoneInfo(BERLIN), ZoneInfo(NEW_YORK)
    assert to_utc(datetime(2026, 10, 25, 2, 30), berlin) == utc(2026, 10, 25, 0, 30)  # CEST
    assert to_utc(datetime(2026, 11, 1, 1, 30), new_york) == utc(2026, 11, 1, 5, 30)  # EDT


def test_to_utc_odd_offsets_and_midnight_changes() -> None:
    # +05:45, no DST.
    assert to_utc(datetime(2026, 6, 1, 9), ZoneInfo("Asia/Kathmandu")) == utc(2026, 6, 1, 3, 15)
    # Lord Howe springs forward only 30 minutes, 02:00 -> 02:30.
    lord_howe = ZoneInfo("Australia/Lord_Howe")
    assert local(to_utc(datetime(2026, 10, 4, 2, 15), lord_howe), lord_howe) == datetime(
        2026, 10, 4, 2, 30
    )
    # Santiago skips midnight (00:00 -> 01:00) and repeats 23:00-24:00 the evening before.
    santiago = ZoneInfo("America/Santiago")
    assert to_utc(datetime(2026, 9, 6, 0, 0), santiago) == utc(2026, 9, 6, 4)  # 01:00 -03
    assert to_utc(datetime(2026, 4, 4, 23, 30), santiago) == utc(2026, 4, 5, 2, 30)  # -03
    # Apia skipped 30 December 2011 entirely.
    apia = ZoneInfo("Pacific/Apia")
    assert local(to_utc(datetime(2011, 12, 30, 9), apia), apia) == datetime(2011, 12, 31)


# --- worked examples: daily and weekly handoffs around DST -----------------------------------


def test_berlin_daily_0900_handoff_stays_0900_local() -> None:
    spec = schedule(BERLIN, daily("2026-03-20T09:00"))
    assert handoffs(spec, utc(2026, 3, 27), utc(2026, 3, 31)) == [
        utc(2026, 3, 27, 8),  # CET, +01:00
        utc(2026, 3, 28, 8),
        utc(2026, 3, 29, 7),  # CEST, +02:00: that shift was 23 hours long
        utc(2026, 3, 30, 7),
    ]
    assert handoffs(spec, utc(2026, 10, 23), utc(2026, 10, 27)) == [
        utc(2026, 10, 23, 7),
        utc(2026, 10, 24, 7),
        utc(2026, 10, 25, 8),  # back to CET: a 25-hour shift
        utc(2026, 10, 26, 8),
    ]


def test_new_york_daily_0900_handoff_stays_0900_local() -> None:
    spec = schedule(NEW_YORK, daily("2026-03-01T09:00"))
    assert handoffs(spec, utc(2026, 3, 6), utc(2026, 3, 10)) == [
        utc(2026, 3, 6, 14),  # EST, -05:00
        utc(2026, 3, 7, 14),
        utc(2026, 3, 8, 13),  # EDT, -04:00
        utc(2026, 3, 9, 13),
    ]
    assert handoffs(spec, utc(2026, 10, 30), utc(2026, 11, 3)) == [
        utc(2026, 10, 30, 13),
        utc(2026, 10, 31, 13),
        utc(2026, 11, 1, 14),
        utc(2026, 11, 2, 14),
    ]


def test_handoff_in_the_skipped_hour_starts_when_the_gap_ends() -> None:
    spec = schedule(BERLIN, daily("2026-03-20T02:30"))
    assert handoffs(spec, utc(2026, 3, 28), utc(2026, 3, 31)) == [
        utc(2026, 3, 28, 1, 30),  # 02:30 CET
        utc(2026, 3, 29, 1, 0),  # 02:30 does not exist: 03:00 CEST
        utc(2026, 3, 30, 0, 30),  # 02:30 CEST
    ]
    spec = schedule(NEW_YORK, daily("2026-03-01T02:30"))
    assert handoffs(spec, utc(2026, 3, 7), utc(2026, 3, 10)) == [
        utc(2026, 3, 7, 7, 30),
        utc(2026, 3, 8, 7, 0),  # 03:00 EDT
        utc(2026, 3, 9, 6, 30),
    ]


def test_handoff_in_the_repeated_hour_uses_the_first_occurrence() -> None:
    spec = schedule(NEW_YORK, daily("2026-10-20T01:30"))
    assert handoffs(spec, utc(2026, 10, 31), utc(2026, 11, 3)) == [
        utc(2026, 10, 31, 5, 30),
        utc(2026, 11, 1, 5, 30),  # 01:30 EDT, not 01:30 EST (06:30 UTC)
        utc(2026, 11, 2, 6, 30),
    ]
    spec = schedule(BERLIN, daily("2026-10-20T02:30"))
    assert handoffs(spec, utc(2026, 10, 24), utc(2026, 10, 27)) == [
        utc(2026, 10, 24, 0, 30),
        utc(2026, 10, 25, 0, 30),  # 02:30 CEST, the first time 02:30 comes round
        utc(2026, 10, 26, 1, 30),
    ]


def test_weekly_handoffs_on_the_dst_sundays() -> None:
    # New York changes clocks on Sundays; a Sunday 02:30 handoff hits the gap once.
    spec = schedule(NEW_YORK, weekly("2026-02-25T12:00", 6, "02:30"))
    shifts = layer_shifts(spec, 0, utc(2026, 2, 25, 17), utc(2026, 3, 22))
    assert [(s.start, s.user_id) for s in shifts] == [
        (utc(2026, 2, 25, 17), "a"),  # the first shift runs from the layer's start
        (utc(2026, 3, 1, 7, 30), "b"),
        (utc(2026, 3, 8, 7, 0), "a"),  # 03:00 EDT
        (utc(2026, 3, 15, 6, 30), "b"),
    ]
    spec = schedule(NEW_YORK, weekly("2026-10-01T00:00", 6, "01:30"))
    assert handoffs(spec, utc(2026, 10, 30), utc(2026, 11, 10)) == [
        utc(2026, 11, 1, 5, 30),  # first 01:30, EDT
        utc(2026, 11, 8, 6, 30),
    ]
    spec = schedule(BERLIN, weekly("2026-03-01T00:00", 0, "09:00"))
    assert handoffs(spec, utc(2026, 3, 20), utc(2026, 4, 7)) == [
        utc(2026, 3, 23, 8),
        utc(2026, 3, 30, 7),
        utc(2026, 4, 6, 7),
    ]


def test_weekly_handoff_at_the_layer_start_is_not_a_partial_shift() -> None:
    spec = schedule(BERLIN, weekly("2026-06-01T09:00", 0, "09:00", users=["a", "b"]))
    shifts = layer_shifts(spec, 0, utc(2026, 6, 1), utc(2026, 6, 15, 12))
    assert walls(shifts, BERLIN) == [
        ("Mon 09:00", "Mon 09:00", "a"),
        ("Mon 09:00", "Mon 09:00", "b"),
        ("Mon 09:00", "Mon 14:00", "a"),
    ]
    assert shifts[0].end - shifts[0].start == timedelta(days=7)


def test_hourly_rotation_is_wall_clock_too() -> None:
    # Hours count on the wall clock: the 02:00 shift of spring-forward night is empty, the
    # 02:00 shift of fall-back night lasts two hours (both 02:00-03:00 local).
    spec = schedule(BERLIN, layer("2026-03-01T00:00", ["a", "b"], {"kind": "hours", "hours": 1}))
    spring = layer_shifts(spec, 0, utc(2026, 3, 29, 0), utc(2026, 3, 29, 2))
    assert walls(spring, BERLIN) == [
        ("Sun 01:00", "Sun 03:00", "b"),  # one hour; a's 02:00 turn is empty
        ("Sun 03:00", "Sun 04:00", "b"),
    ]
    fall = layer_shifts(spec, 0, utc(2026, 10, 24, 23), utc(2026, 10, 25, 3))
    assert [(s.end - s.start, s.user_id) for s in fall] == [
        (timedelta(hours=1), "b"),  # 01:00-02:00 CEST
        (timedelta(hours=2), "a"),  # 02:00 CEST-03:00 CET
        (timedelta(hours=1), "b"),
    ]


def test_layer_end_and_start_clip_shifts() -> None:
    spec = schedule(BERLIN, daily("2026-05-04T09:00", users=["a", "b"], end="2026-05-06T12:00"))
    shifts = layer_shifts(spec, 0, utc(2026, 5, 1), utc(2026, 5, 10))
    assert walls(shifts, BERLIN) == [
        ("Mon 09:00", "Tue 09:00", "a"),
        ("Tue 09:00", "Wed 09:00", "b"),
        ("Wed 09:00", "Wed 12:00", "a"),
    ]


# --- restrictions ------------------------------------------------------------------------------


def test_weekday_business_hours_restriction() -> None:
    business = {"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "17:00"}
    spec = schedule(
        BERLIN, weekly("2026-03-23T09:00", 0, "09:00", restrictions=[business])
    )  # Monday
    shifts = layer_shifts(spec, 0, utc(2026, 3, 26), utc(2026, 3, 31))
    assert walls(shifts, BERLIN) == [
        ("Thu 09:00", "Thu 17:00", "a"),
        ("Fri 09:00", "Fri 17:00", "a"),
        ("Mon 09:00", "Mon 17:00", "b"),  # after the DST change, still 09:00-17:00 local
    ]
    assert shifts[-1].start == utc(2026, 3, 30, 7)


def test_overnight_restriction_crosses_midnight_and_dst() -> None:
    night = {"start": "22:00", "end": "06:00"}
    spec = schedule(NEW_YORK, daily("2026-03-01T12:00", users=["n1", "n2"], restrictions=[night]))
    shifts = layer_shifts(spec, 0, utc(2026, 3, 7, 12), utc(2026, 3, 9, 17))
    assert walls(shifts, NEW_YORK) == [
        ("Sat 22:00", "Sun 06:00", "n1"),
        ("Sun 22:00", "Mon 06:00", "n2"),
    ]
    assert shifts[0].end - shifts[0].start == timedelta(hours=7)  # the night lost an hour
    # A handoff inside a restriction window splits it; a piece is its own shift.
    split = schedule(NEW_YORK, daily("2026-03-01T02:00", users=["n1", "n2"], restrictions=[night]))
    shifts = layer_shifts(split, 0, utc(2026, 3, 10, 12), utc(2026, 3, 11, 12))
    assert walls(shifts, NEW_YORK) == [
        ("Tue 22:00", "Wed 02:00", "n2"),
        ("Wed 02:00", "Wed 06:00", "n1"),
    ]


def test_restriction_on_chosen_days_only() -> None:
    weekend = {"days": [5, 6], "start": "10:00", "end": "12:00"}
    spec = schedule("UTC", daily("2026-06-01T00:00", users=["a"], restrictions=[weekend]))
    shifts = layer_shifts(spec, 0, utc(2026, 6, 1), utc(2026, 6, 8))
    assert [(s.start, s.end) for s in shifts] == [
        (utc(2026, 6, 6, 10), utc(2026, 6, 6, 12)),
        (utc(2026, 6, 7, 10), utc(2026, 6, 7, 12)),
    ]


# --- layers and render -------------------------------------------------------------------------


def test_higher_layer_wins_and_gaps_fall_through_to_nobody() -> None:
    nights = daily(
        "2026-06-01T00:00", users=["n"], restrictions=[{"start": "22:00", "end": "06:00"}]
    )
    days = weekly(
        "2026-06-01T00:00",
        0,
        "09:00",
        users=["d"],
        restrictions=[{"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "17:00"}],
    )
    base = daily("2026-06-01T00:00", users=["base"])
    spec = schedule(BERLIN, nights, days)
    shifts = render(spec, utc(2026, 6, 1, 22), utc(2026, 6, 2, 22))  # Tue 00:00 -> Wed 00:00
    assert walls(shifts, BERLIN) == [
        ("Tue 00:00", "Tue 06:00", "n"),
        ("Tue 09:00", "Tue 17:00", "d"),
        ("Tue 22:00", "Wed 00:00", "n"),
    ]
    assert [s.layer for s in shifts] == [0, 1, 0]
    assert on_call_at(spec, utc(2026, 6, 2, 5)) == []  # 07:00 local: nobody on call
    assert on_call_at(spec, utc(2026, 6, 2, 7)) == ["d"]
    # A 24/7 bottom layer fills the gaps; the restricted layers above still win.
    spec = schedule(BERLIN, base, nights, days)
    assert [
        u for _, _, u in walls(render(spec, utc(2026, 6, 1, 22), utc(2026, 6, 2, 22)), BERLIN)
    ] == [
        "n",
        "base",
        "d",
        "base",
        "n",
    ]


def test_render_merges_a_users_consecutive_shifts_and_sorts() -> None:
    spec = schedule("UTC", daily("2026-06-01T00:00", users=["solo"]))
    assert render(spec, utc(2026, 6, 1), utc(2026, 6, 8)) == [
        Shift(utc(2026, 6, 1), utc(2026, 6, 8), "solo", 0)
    ]
    assert render(spec, utc(2026, 5, 1), utc(2026, 5, 8)) == []  # before the layer starts


def test_override_covers_whoever_was_on_call() -> None:
    spec = schedule(
        "UTC",
        daily("2026-06-01T00:00", users=["a", "b"]),
        overrides=[override("x", utc(2026, 6, 1, 20), utc(2026, 6, 2, 4), utc(2026, 5, 1))],
    )
    assert render(spec, utc(2026, 6, 1), utc(2026, 6, 3)) == [
        Shift(utc(2026, 6, 1), utc(2026, 6, 1, 20), "a", 0),
        Shift(utc(2026, 6, 1, 20), utc(2026, 6, 2, 4), "x", None, 0),
        Shift(utc(2026, 6, 2, 4), utc(2026, 6, 3), "b", 0),
    ]
    assert on_call_at(spec, utc(2026, 6, 2, 3, 59)) == ["x"]
    assert on_call_at(spec, utc(2026, 6, 2, 4)) == ["b"]


def test_override_fills_a_gap() -> None:
    spec = schedule(
        "UTC",
        daily("2026-06-01T00:00", users=["a"], restrictions=[{"start": "09:00", "end": "17:00"}]),
        overrides=[override("x", utc(2026, 6, 1, 16), utc(2026, 6, 1, 18), utc(2026, 5, 1))],
    )
    assert render(spec, utc(2026, 6, 1), utc(2026, 6, 2)) == [
        Shift(utc(2026, 6, 1, 9), utc(2026, 6, 1, 16), "a", 0),
        Shift(utc(2026, 6, 1, 16), utc(2026, 6, 1, 18), "x", None, 0),
    ]


def test_override_replacing_one_user_only_where_that_user_is_on_call() -> None:
    spec = schedule(
        "UTC",
        daily(
            "2026-06-01T00:00", users=["a", "b"], restrictions=[{"start": "00:00", "end": "20:00"}]
        ),
        overrides=[
            override("x", utc(2026, 6, 1, 12), utc(2026, 6, 3), utc(2026, 5, 1), replacesUserId="b")
        ],
    )
    assert render(spec, utc(2026, 6, 1), utc(2026, 6, 3)) == [
        Shift(utc(2026, 6, 1), utc(2026, 6, 1, 20), "a", 0),  # a is not replaced
        Shift(utc(2026, 6, 2), utc(2026, 6, 2, 20), "x", None, 0),  # b's day; not the gap
    ]


def test_overlapping_overrides_latest_created_wins_then_later_in_list() -> None:
    base = daily("2026-06-01T00:00", users=["a"])
    late = override("late", utc(2026, 6, 1, 10), utc(2026, 6, 1, 12), utc(2026, 5, 2))
    early = override("early", utc(2026, 6, 1, 8), utc(2026, 6, 1, 14), utc(2026, 5, 1))
    spec = schedule("UTC", base, overrides=[late, early])
    assert [
        (s.start.hour, s.end.hour, s.user_id)
        for s in render(spec, utc(2026, 6, 1), utc(2026, 6, 2))
    ] == [
        (0, 8, "a"),
        (8, 10, "early"),
        (10, 12, "late"),  # created later, listed first: still wins
        (12, 14, "early"),
        (14, 0, "a"),
    ]
    same_time = override("second", utc(2026, 6, 1, 10), utc(2026, 6, 1, 12), utc(2026, 5, 1))
    spec = schedule("UTC", base, overrides=[early, same_time])
    assert on_call_at(spec, utc(2026, 6, 1, 11)) == ["second"]  # a tie: later in the list


def test_replacing_override_refers_to_the_layers_user() -> None:
    # "late" replaces a; "early" (created before) covers everyone. Where a is on call per the
    # layers both apply and the later-created wins.
    base = daily("2026-06-01T00:00", users=["a", "b"])
    late = override(
        "late", utc(2026, 6, 1, 20), utc(2026, 6, 2, 4), utc(2026, 5, 2), replacesUserId="a"
    )
    early = override("early", utc(2026, 6, 1, 18), utc(2026, 6, 2, 6), utc(2026, 5, 1))
    spec = schedule("UTC", base, overrides=[early, late])
    assert [
        (s.start.hour, s.user_id) for s in render(spec, utc(2026, 6, 1, 12), utc(2026, 6, 2, 12))
    ] == [
        (12, "a"),
        (18, "early"),
        (20, "late"),
        (0, "early"),  # b's day: "late" does not apply
        (6, "b"),
    ]


# --- windows and speed ------------------------------------------------------------------------


def test_window_rules() -> None:
    spec = schedule("UTC", daily())
    with pytest.raises(ValueError, match="90 days"):
        render(spec, utc(2026, 1, 1), utc(2026, 4, 2))
    with pytest.raises(ValueError, match="aware"):
        render(spec, datetime(2026, 1, 1), utc(2026, 1, 2))
    with pytest.raises(ValueError, match="before"):
        render(spec, utc(2026, 1, 2), utc(2026, 1, 1))
    assert render(spec, utc(2026, 1, 2), utc(2026, 1, 2)) == []
    assert len(render(spec, utc(2026, 1, 1), utc(2026, 3, 31, 23, 59))) == 90
    with pytest.raises(IndexError):
        layer_shifts(spec, 1, utc(2026, 1, 1), utc(2026, 1, 2))


def test_years_old_hourly_rotation_renders_90_days_fast() -> None:
    spec = schedule(
        NEW_YORK, layer("2021-03-14T02:30", ["a", "b", "c"], {"kind": "hours", "hours": 1})
    )
    began = perf_counter()
    shifts = layer_shifts(spec, 0, utc(2026, 1, 15), utc(2026, 4, 15))
    rendered = render(spec, utc(2026, 1, 15), utc(2026, 4, 15))
    assert perf_counter() - began < 1.0
    assert rendered == shifts  # no two neighbours are the same user
    assert all(a.end == b.start for a, b in pairwise(shifts))
    new_york = ZoneInfo(NEW_YORK)
    # Every handoff is at :30 local but the one that fell in the skipped hour.
    assert [
        local(s.start, new_york) for s in shifts[1:] if local(s.start, new_york).minute != 30
    ] == [datetime(2026, 3, 8, 3, 0)]


# --- validation names the field ----------------------------------------------------------------


def error_fields(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as info:
        ScheduleSpec.model_validate(data)
    return [".".join(str(p) for p in e["loc"]) for e in info.value.errors()]


def test_bad_specs_name_the_field() -> None:
    good = daily()
    assert error_fields({"timeZone": "Mars/Olympus"}) == ["timeZone"]
    assert error_fields({"timeZone": "Europe"}) == ["timeZone"]  # a directory, not a zone
    assert error_fields({"timeZone": "UTC", "layers": [{**good, "end": good["start"]}]}) == [
        "layers.0.end"
    ]
    assert error_fields({"timeZone": "UTC", "layers": [{**good, "users": []}]}) == [
        "layers.0.users"
    ]
    zero = {**good, "shift": {"kind": "hours", "hours": 0}}
    assert error_fields({"timeZone": "UTC", "layers": [zero]}) == ["layers.0.shift.hours.hours"]
    zero = {**good, "shift": {"kind": "days", "days": 0}}
    assert error_fields({"timeZone": "UTC", "layers": [zero]}) == ["layers.0.shift.days.days"]
    no_handoff = {**good, "shift": {"kind": "weekly"}}
    assert error_fields({"timeZone": "UTC", "layers": [no_handoff]}) == [
        "layers.0.shift.weekly.handoffWeekday",
        "layers.0.shift.weekly.handoffTime",
    ]
    bad_time = {**good, "shift": {"kind": "weekly", "handoffWeekday": 7, "handoffTime": "9:00"}}
    assert error_fields({"timeZone": "UTC", "layers": [bad_time]}) == [
        "layers.0.shift.weekly.handoffWeekday",
        "layers.0.shift.weekly.handoffTime",
    ]
    empty_window = {**good, "restrictions": [{"start": "09:00", "end": "09:00"}]}
    assert error_fields({"timeZone": "UTC", "layers": [empty_window]}) == [
        "layers.0.restrictions.0.end"
    ]
    aware_start = {**good, "start": "2026-01-01T09:00:00Z"}
    assert error_fields({"timeZone": "UTC", "layers": [aware_start]}) == ["layers.0.start"]
    backwards = override("x", utc(2026, 1, 2), utc(2026, 1, 1), utc(2026, 1, 1))
    assert error_fields({"timeZone": "UTC", "overrides": [backwards]}) == ["overrides.0.end"]
    naive = {**backwards, "end": "2026-01-03T00:00", "createdAt": "2026-01-01T00:00"}
    assert error_fields({"timeZone": "UTC", "overrides": [naive]}) == [
        "overrides.0.end",
        "overrides.0.createdAt",
    ]


def test_spec_round_trips_as_camel_case_json() -> None:
    spec = schedule(
        BERLIN,
        weekly("2026-06-01T00:00", 0, "09:00", restrictions=[{"start": "22:00", "end": "06:00"}]),
        overrides=[override("x", utc(2026, 6, 1), utc(2026, 6, 2), utc(2026, 5, 1))],
    )
    stored = spec.model_dump(mode="json", by_alias=True)
    assert stored["layers"][0]["shift"] == {
        "kind": "weekly",
        "handoffWeekday": 0,
        "handoffTime": "09:00",
    }
    assert ScheduleSpec.model_validate(stored) == spec


# --- docs/schedules.md's worked examples are this code's output -----------------------------


def test_docs_dst_tables_match_the_code() -> None:
    """Recompute every row of the worked-example tables in docs/schedules.md."""
    docs = (Path(__file__).parent.parent / "docs" / "schedules.md").read_text()
    zone, change, rows = "", date.min, 0
    for line in docs.splitlines():
        if heading := re.match(r"### Worked example: (\S+)", line):
            zone = heading[1]
        elif when := re.match(r"Clocks change on \w+ (\d{4}-\d\d-\d\d)", line):
            change = date.fromisoformat(when[1])
        elif row := re.match(r"\| (\d\d:\d\d) \| (.*) \|$", line):
            *cells, lengths = row[2].split(" | ")
            z = ZoneInfo(zone)
            start = datetime.combine(change - timedelta(days=10), time.fromisoformat(row[1]))
            spec = schedule(zone, daily(start.isoformat(), users=["a", "b"]))
            days = [change + timedelta(days=d) for d in (-1, 0, 1)]
            lo = datetime.combine(days[0], datetime.min.time(), tzinfo=UTC) - timedelta(days=1)
            shifts = [
                s
                for s in layer_shifts(spec, 0, lo, lo + timedelta(days=5))
                if local(s.start, z).date() in days
            ]
            shown = [
                f"{s.start.astimezone(z):%H:%M %Z} = {s.start:%d %b %H:%M} UTC" for s in shifts
            ]
            hours = [f"{(s.end - s.start) / timedelta(hours=1):g} h" for s in shifts[:2]]
            assert (shown, ", ".join(hours)) == (cells, lengths), line
            rows += 1
    assert rows == 10
