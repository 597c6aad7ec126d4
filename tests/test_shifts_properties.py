"""Property tests of shift computation over random schedules, zones and windows.

Windows are drawn mostly around each zone's real offset changes (found by scanning the zone),
and handoff times lean towards the hours that DST skips or repeats, so the tricky cases come up
in most examples rather than by luck.
"""

import os
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.schedule_spec import DaysShift, LayerSpec, OverrideSpec, ScheduleSpec, WeeklyShift
from models.shifts import Shift, layer_shifts, local, on_call_at, render, to_utc

ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",  # 30-minute DST
    "Asia/Kathmandu",  # +05:45
    "America/Santiago",  # changes at midnight
    "Pacific/Apia",  # skipped 30 December 2011
    "UTC",
]
USERS = ["u1", "u2", "u3", "u4"]
TICK = timedelta(microseconds=1)
SETTINGS = settings(
    max_examples=int(os.environ.get("SHIFT_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@cache
def transitions(zone_name: str) -> list[datetime]:
    """Noon UTC of each day after which the zone's offset changes, 2011 to 2027."""
    zone, found = ZoneInfo(zone_name), []
    day = datetime(2011, 1, 1, 12, tzinfo=UTC)
    before = day.astimezone(zone).utcoffset()
    while day.year < 2028:
        after = (day + timedelta(days=1)).astimezone(zone).utcoffset()
        if after != before:
            found.append(day)
        day, before = day + timedelta(days=1), after
    return found


TRICKY_TIMES = [time(0), time(0, 30), time(1, 30), time(2), time(2, 15), time(2, 30), time(3)]
times = st.one_of(
    st.sampled_from(TRICKY_TIMES),
    st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45])),
)


def hhmm(value: time) -> str:
    return value.strftime("%H:%M")


@st.composite
def restrictions(draw: st.DrawFn) -> dict[str, Any]:
    start = draw(times)
    end = draw(times.filter(lambda t: t != start))
    days = draw(st.none() | st.lists(st.integers(0, 6), min_size=1, max_size=7, unique=True))
    return {"days": days, "start": hhmm(start), "end": hhmm(end)}


@st.composite
def shift_lengths(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["hours", "days", "weekly"]))
    if kind == "hours":
        return {"kind": kind, "hours": draw(st.sampled_from([1, 2, 3, 5, 8, 12, 24, 25, 100]))}
    if kind == "days":
        return {"kind": kind, "days": draw(st.just(1) | st.integers(1, 10))}
    # These zones all change their clocks on a Sunday (Santiago at its midnight).
    weekday = draw(st.just(6) | st.integers(0, 6))
    return {"kind": kind, "handoffWeekday": weekday, "handoffTime": hhmm(draw(times))}


@st.composite
def layers(draw: st.DrawFn, anchor: datetime, zone: ZoneInfo) -> dict[str, Any]:
    # Usually a little before the window, sometimes years before, sometimes inside it.
    days_before = draw(st.one_of(st.integers(-5, 30), st.integers(30, 2500)))
    start_day = local(anchor, zone).date() - timedelta(days=days_before)
    start = datetime.combine(start_day, draw(times))
    layer: dict[str, Any] = {
        "start": start.isoformat(),
        "users": draw(st.lists(st.sampled_from(USERS), min_size=1, max_size=4)),
        "shift": draw(shift_lengths()),
    }
    if draw(st.integers(0, 2)) > 0:
        layer["restrictions"] = draw(st.lists(restrictions(), min_size=1, max_size=2))
    if draw(st.integers(0, 3)) == 0:
        length = timedelta(
            days=draw(st.integers(0, days_before + 20)), minutes=15 * draw(st.integers(1, 95))
        )
        layer["end"] = (start + length).isoformat()
    return layer


@st.composite
def overrides(draw: st.DrawFn, anchor: datetime) -> dict[str, Any]:
    start = anchor + timedelta(minutes=15 * draw(st.integers(-4 * 24 * 4, 4 * 24 * 16)))
    end = start + timedelta(minutes=15 * draw(st.integers(1, 4 * 24 * 3)))
    return {
        "userId": draw(st.sampled_from([*USERS, "cover"])),
        "start": start,
        "end": end,
        "replacesUserId": draw(st.none() | st.sampled_from(USERS)),
        # Few distinct creation times, so ties (later in the list wins) happen.
        "createdAt": datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=draw(st.integers(0, 3))),
    }


@st.composite
def cases(draw: st.DrawFn) -> tuple[ScheduleSpec, datetime, datetime]:
    name = draw(st.sampled_from(ZONES))
    zone = ZoneInfo(name)
    changes = transitions(name)
    if changes and draw(st.integers(0, 3)) > 0:
        around = draw(st.sampled_from(changes))
        anchor = around + timedelta(minutes=15 * draw(st.integers(-4 * 24 * 2, 4 * 12)))
    else:
        anchor = datetime(2011, 1, 1, tzinfo=UTC) + timedelta(
            minutes=15 * draw(st.integers(0, 4 * 24 * 365 * 16))
        )
    anchor += timedelta(seconds=draw(st.sampled_from([0, 0, 0, 1, 59])))
    window = timedelta(minutes=15 * draw(st.integers(1, 4 * 24 * 12)))
    spec = ScheduleSpec.model_validate(
        {
            "timeZone": name,
            "layers": [draw(layers(anchor, zone)) for _ in range(draw(st.integers(1, 3)))],
            "overrides": draw(st.lists(overrides(anchor), max_size=3)),
        }
    )
    return spec, anchor, anchor + window


# --- helpers: independent of the module's internals ------------------------------------------


def merged(shifts: list[Shift]) -> list[Shift]:
    out: list[Shift] = []
    for shift in shifts:
        last = out[-1] if out else None
        if (
            last is not None
            and last.end == shift.start
            and (last.user_id, last.layer, last.override)
            == (shift.user_id, shift.layer, shift.override)
        ):
            out[-1] = Shift(last.start, shift.end, last.user_id, last.layer, last.override)
        else:
            out.append(shift)
    return out


def clipped(shifts: list[Shift], start: datetime, end: datetime) -> list[Shift]:
    return [
        Shift(max(s.start, start), min(s.end, end), s.user_id, s.layer, s.override)
        for s in shifts
        if s.start < end and s.end > start
    ]


def assert_disjoint_sorted(shifts: list[Shift], start: datetime, end: datetime) -> None:
    for shift in shifts:
        assert start <= shift.start < shift.end <= end
        assert shift.start.tzinfo == UTC and shift.end.tzinfo == UTC
    for a, b in pairwise(shifts):
        assert a.end <= b.start


def containing(shifts: list[Shift], at: datetime) -> list[str]:
    return [s.user_id for s in shifts if s.start <= at < s.end]


def restriction_spans(layer: LayerSpec, zone: ZoneInfo, lo: datetime, hi: datetime) -> list:
    """Every restriction window instance near [lo, hi), unmerged."""
    spans = []
    day: date = local(lo, zone).date() - timedelta(days=3)
    while day <= local(hi, zone).date() + timedelta(days=1):
        for window in layer.restrictions or ():
            if window.days is None or day.weekday() in window.days:
                end_day = day + timedelta(days=1) if window.end <= window.start else day
                spans.append(
                    (
                        to_utc(datetime.combine(day, window.start), zone),
                        to_utc(datetime.combine(end_day, window.end), zone),
                    )
                )
        day += timedelta(days=1)
    return spans


def nonexistent(wall: datetime, zone: ZoneInfo) -> bool:
    return local(wall.replace(tzinfo=zone).astimezone(UTC), zone) != wall


# --- properties ---------------------------------------------------------------------------------


@SETTINGS
@given(cases())
def test_layer_shifts_are_disjoint_and_cover_the_layer(case: Any) -> None:
    spec, lo, hi = case
    zone = spec.zone
    for index, layer in enumerate(spec.layers):
        shifts = layer_shifts(spec, index, lo, hi)
        assert_disjoint_sorted(shifts, lo, hi)
        assert all(s.layer == index and s.override is None for s in shifts)
        assert all(s.user_id in layer.users for s in shifts)
        begin = to_utc(layer.start, zone)
        finish = to_utc(layer.end, zone) if layer.end else hi
        spans = restriction_spans(layer, zone, lo, hi)
        points = {lo, hi, begin, finish}
        points.update(t for s in shifts for t in (s.start, s.end))
        points.update(t for span in spans for t in span)
        inside = sorted(t for t in points if lo <= t < hi)
        probes = inside + [a + (b - a) / 2 for a, b in pairwise([*inside, hi])]
        for at in probes:
            expected = begin <= at < finish and (
                layer.restrictions is None or any(a <= at < b for a, b in spans)
            )
            assert bool(containing(shifts, at)) == expected, at


@SETTINGS
@given(cases())
def test_jumping_to_the_window_equals_walking_from_the_start(case: Any) -> None:
    spec, lo, hi = case
    zone = spec.zone
    for index, layer in enumerate(spec.layers):
        if layer.restrictions:
            continue
        shifts = layer_shifts(spec, index, lo, hi)
        # Walk every handoff from the layer's start, the slow and obvious way.
        shift = layer.shift
        if isinstance(shift, WeeklyShift):
            first = datetime.combine(layer.start.date(), shift.handoff_time)
            while first <= layer.start or first.weekday() != shift.handoff_weekday:
                first += timedelta(days=1)
            walls = [layer.start, first]
            step = timedelta(days=7)
        else:
            step = (
                timedelta(days=shift.days)
                if isinstance(shift, DaysShift)
                else timedelta(hours=shift.hours)
            )
            walls = [layer.start, layer.start + step]
        if (hi - to_utc(layer.start, zone)) / step > 3000:
            continue  # too long a walk for a test
        while to_utc(walls[-1], zone) < hi:
            walls.append(walls[-1] + step)
        finish = to_utc(layer.end, zone) if layer.end else hi
        walked = []
        for k, (a, b) in enumerate(pairwise(walls)):
            start, end = max(to_utc(a, zone), lo), min(to_utc(b, zone), hi, finish)
            if start < end:
                walked.append(Shift(start, end, layer.users[k % len(layer.users)], index))
        assert shifts == walked


@SETTINGS
@given(cases())
def test_handoffs_keep_their_wall_clock_time(case: Any) -> None:
    spec, lo, hi = case
    zone = spec.zone
    for index, layer in enumerate(spec.layers):
        shift = layer.shift
        if layer.restrictions or not isinstance(shift, DaysShift | WeeklyShift):
            continue
        handoff = shift.handoff_time if isinstance(shift, WeeklyShift) else layer.start.time()
        begin = to_utc(layer.start, zone)
        for s in layer_shifts(spec, index, lo, hi):
            if s.start in (lo, begin):
                continue  # cut by the window or the layer's start, not a handoff
            here = local(s.start, zone)
            wall = datetime.combine(here.date(), handoff)
            if here == wall:
                assert s.start.astimezone(zone).fold == 0  # first occurrence
            else:  # it fell in a gap and starts when the gap ends
                walls = [wall, wall - timedelta(days=1)]
                assert any(nonexistent(w, zone) and to_utc(w, zone) == s.start for w in walls)


@SETTINGS
@given(cases(), st.lists(st.floats(0, 1, exclude_max=True), min_size=1, max_size=6))
def test_render_is_disjoint_and_agrees_with_on_call_at(case: Any, fractions: list[float]) -> None:
    spec, lo, hi = case
    shifts = render(spec, lo, hi)
    assert_disjoint_sorted(shifts, lo, hi)
    assert merged(shifts) == shifts  # touching pieces of one user and source are joined
    probes = [min(lo + (hi - lo) * f, hi - TICK) for f in fractions]
    probes += [t for s in shifts[:5] for t in (s.start, s.end - TICK)]
    probes += [o.start for o in spec.overrides if lo <= o.start < hi]
    for at in probes:
        assert on_call_at(spec, at) == containing(shifts, at), at


@SETTINGS
@given(cases(), st.floats(0, 1))
def test_rendering_in_two_pieces_equals_rendering_whole(case: Any, fraction: float) -> None:
    spec, lo, hi = case
    whole = render(spec, lo, hi)
    cuts = [lo + (hi - lo) * fraction, *(s.end for s in whole[:3])]
    for mid in cuts:
        assert merged(render(spec, lo, mid) + render(spec, mid, hi)) == whole, mid


@SETTINGS
@given(cases(), overrides(datetime(2026, 3, 1, tzinfo=UTC)))
def test_an_override_only_changes_its_own_interval(case: Any, extra: dict[str, Any]) -> None:
    spec, lo, hi = case
    # Move the extra override next to the window, keeping its shape.
    shift = lo - datetime(2026, 3, 1, tzinfo=UTC)
    extra = {**extra, "start": extra["start"] + shift, "end": extra["end"] + shift}
    with_it = spec.model_copy(
        update={"overrides": [*spec.overrides, OverrideSpec.model_validate(extra)]}
    )
    before, after = render(spec, lo, hi), render(with_it, lo, hi)
    start, end = extra["start"], extra["end"]
    assert clipped(before, lo, start) == clipped(after, lo, start)
    assert clipped(before, end, hi) == clipped(after, end, hi)
    # Inside, each piece is the new override's or what was there before.
    for piece in clipped(after, start, end):
        if piece.override == len(spec.overrides):
            assert piece.user_id == extra["userId"]
        else:
            assert clipped(before, piece.start, piece.end) == [piece]
