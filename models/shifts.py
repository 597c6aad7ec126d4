"""On-call shifts, computed: a schedule spec and a window in, the shifts out (pure, no I/O).

Every handoff is a local wall-clock time (layer start + k shift lengths in calendar
arithmetic, or a weekly weekday and time) turned into an instant only at the end, so a 09:00
handoff stays 09:00 local across DST changes. ``to_utc`` holds the two DST rules: a wall time
in a skipped hour means the instant the gap ends (the next valid one), a wall time in a
repeated hour its first occurrence. That mapping never goes backwards, so shifts built from
increasing wall times never overlap; a shift squeezed to nothing by a gap is dropped.

Everything is pointwise (who is on call at t depends on t alone, not on the window), so
rendering a window in pieces gives the same schedule as rendering it whole. docs/schedules.md
has the rules and worked examples.
"""

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from models.schedule_spec import (
    EARLIEST,
    LATEST,
    DaysShift,
    HoursShift,
    LayerSpec,
    Restriction,
    ScheduleSpec,
)

MAX_WINDOW = timedelta(days=90)
_WEEK = timedelta(days=7)
_DAY = timedelta(days=1)
_TICK = timedelta(microseconds=1)

Span = tuple[datetime, datetime]


@dataclass(frozen=True, slots=True)
class Shift:
    """``user_id`` is on call in [start, end) (aware UTC instants)."""

    start: datetime
    end: datetime
    user_id: str
    layer: int | None  # whose rotation put the user here; None for an override
    override: int | None = None  # index in ScheduleSpec.overrides

    def cut(self, start: datetime, end: datetime) -> "Shift":
        return Shift(start, end, self.user_id, self.layer, self.override)

    def same_source(self, other: "Shift") -> bool:
        return (self.user_id, self.layer, self.override) == (
            other.user_id,
            other.layer,
            other.override,
        )


def to_utc(wall: datetime, zone: ZoneInfo) -> datetime:
    """The instant of a local wall-clock time: in a repeated hour its first occurrence, in a
    skipped hour the instant the gap ends (02:30 on a spring-forward night at 02:00 → 03:00)."""
    wall = wall.replace(fold=0)
    instant = wall.replace(tzinfo=zone).astimezone(UTC)  # fold=0: the first occurrence
    if local(instant, zone) == wall:
        return instant
    return _gap_end(wall, zone)


def local(instant: datetime, zone: ZoneInfo) -> datetime:
    """The naive local wall-clock time of an aware instant."""
    return instant.astimezone(zone).replace(tzinfo=None, fold=0)


def _gap_end(wall: datetime, zone: ZoneInfo) -> datetime:
    # Read with the offsets after and before the change, a skipped wall time gives one instant
    # before the change and one after it; the change is the first instant whose local time is
    # past ``wall``. Bisect to the microsecond (also right for Apia's skipped whole day).
    lo, hi = sorted(wall.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1))
    while hi - lo > _TICK:
        mid = lo + (hi - lo) // 2
        if local(mid, zone) > wall:
            hi = mid
        else:
            lo = mid
    return hi


@dataclass(frozen=True, slots=True)
class _Rotation:
    """Handoff k as a wall time: k = 0 is the layer's start, k >= 1 is first + (k-1) steps."""

    start: datetime
    first: datetime
    step: timedelta

    def wall(self, k: int) -> datetime:
        return self.start if k == 0 else self.first + (k - 1) * self.step

    def index_near(self, wall: datetime) -> int:
        """The handoff at or before ``wall`` in wall-clock terms, found arithmetically (no
        walk from a start years ago); the caller settles it on instants."""
        return 0 if wall < self.first else (wall - self.first) // self.step + 1


def _rotation(layer: LayerSpec) -> _Rotation:
    shift = layer.shift
    if isinstance(shift, HoursShift | DaysShift):
        step = timedelta(hours=shift.hours) if isinstance(shift, HoursShift) else shift.days * _DAY
        return _Rotation(layer.start, layer.start + step, step)
    days_ahead = (shift.handoff_weekday - layer.start.weekday()) % 7
    first = datetime.combine(layer.start.date() + days_ahead * _DAY, shift.handoff_time)
    if first <= layer.start:
        first += _WEEK
    return _Rotation(layer.start, first, _WEEK)


def _rotation_shifts(
    layer: LayerSpec, index: int, zone: ZoneInfo, lo: datetime, hi: datetime
) -> list[Shift]:
    rotation = _rotation(layer)
    k = rotation.index_near(local(lo, zone))
    # The wall-clock estimate is off by at most one offset change: settle it on instants.
    while k > 0 and to_utc(rotation.wall(k), zone) > lo:
        k -= 1
    while to_utc(rotation.wall(k + 1), zone) <= lo:
        k += 1
    shifts = []
    start = to_utc(rotation.wall(k), zone)
    while start < hi:
        end = to_utc(rotation.wall(k + 1), zone)
        piece_start, piece_end = max(start, lo), min(end, hi)
        if piece_start < piece_end:  # a shift wholly inside a skipped hour is empty
            shifts.append(Shift(piece_start, piece_end, layer.users[k % len(layer.users)], index))
        k += 1
        start = end
    return shifts


def _restriction_spans(
    restrictions: Sequence[Restriction], zone: ZoneInfo, lo: datetime, hi: datetime
) -> list[Span]:
    """The instants in [lo, hi) that some restriction window covers, as sorted disjoint
    spans. A window belongs to the local day it starts on, so start two days early (one for
    a window crossing midnight, one for a zone that skipped a day)."""
    spans = []
    day = local(lo, zone).date() - 2 * _DAY
    last = local(hi, zone).date() + _DAY
    while day <= last:
        for window in restrictions:
            if window.applies_on(day.weekday()):
                end_day = day + _DAY if window.end <= window.start else day
                start = max(to_utc(datetime.combine(day, window.start), zone), lo)
                end = min(to_utc(datetime.combine(end_day, window.end), zone), hi)
                if start < end:
                    spans.append((start, end))
        day += _DAY
    return _union(spans)


def _union(spans: Iterable[Span]) -> list[Span]:
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _intersect(shifts: Sequence[Shift], spans: Sequence[Span]) -> list[Shift]:
    """The parts of sorted, disjoint shifts inside sorted, disjoint spans."""
    out, j = [], 0
    for shift in shifts:
        while j < len(spans) and spans[j][1] <= shift.start:
            j += 1
        i = j
        while i < len(spans) and spans[i][0] < shift.end:
            start, end = max(shift.start, spans[i][0]), min(shift.end, spans[i][1])
            if start < end:
                out.append(shift.cut(start, end))
            i += 1
    return out


def _subtract(shifts: Sequence[Shift], spans: Sequence[Span]) -> list[Shift]:
    """The parts of sorted, disjoint shifts outside sorted, disjoint spans."""
    out, j = [], 0
    for shift in shifts:
        while j < len(spans) and spans[j][1] <= shift.start:
            j += 1
        cursor, i = shift.start, j
        while i < len(spans) and spans[i][0] < shift.end:
            if spans[i][0] > cursor:
                out.append(shift.cut(cursor, spans[i][0]))
            cursor = max(cursor, spans[i][1])
            i += 1
        if cursor < shift.end:
            out.append(shift.cut(cursor, shift.end))
    return out


def _layer_shifts(
    spec: ScheduleSpec, index: int, zone: ZoneInfo, lo: datetime, hi: datetime
) -> list[Shift]:
    layer = spec.layers[index]
    lo = max(lo, to_utc(layer.start, zone))
    if layer.end is not None:
        hi = min(hi, to_utc(layer.end, zone))
    if lo >= hi:
        return []
    shifts = _rotation_shifts(layer, index, zone, lo, hi)
    if layer.restrictions:
        shifts = _intersect(shifts, _restriction_spans(layer.restrictions, zone, lo, hi))
    return shifts


def _overlay(lower: list[Shift], upper: list[Shift]) -> list[Shift]:
    """``upper`` where it has someone, ``lower`` in its gaps."""
    if not upper:
        return lower
    kept = _subtract(lower, _union((shift.start, shift.end) for shift in upper))
    return sorted(kept + upper, key=lambda shift: shift.start)


def _apply_overrides(
    spec: ScheduleSpec, layered: list[Shift], lo: datetime, hi: datetime
) -> list[Shift]:
    """At each instant the applicable overrides are those covering it whose
    ``replaces_user_id`` (if any) is the layers' user there; the latest created wins (ties:
    later in the list); with none, the layers' user stays."""
    active = [i for i, o in enumerate(spec.overrides) if o.start < hi and o.end > lo]
    if not active:
        return layered
    regions = _union(
        (max(o.start, lo), min(o.end, hi)) for o in map(spec.overrides.__getitem__, active)
    )
    # Each override lies within exactly one region of the union.
    members: list[list[int]] = [[] for _ in regions]
    region_starts = [region[0] for region in regions]
    for i in active:
        start = max(spec.overrides[i].start, lo)
        members[bisect_right(region_starts, start) - 1].append(i)
    out = _subtract(layered, regions)
    layered_starts = [shift.start for shift in layered]
    for region, overriding in zip(regions, members, strict=True):
        out += _override_region(spec, layered, layered_starts, region, overriding)
    return sorted(out, key=lambda shift: shift.start)


def _override_region(
    spec: ScheduleSpec,
    layered: list[Shift],
    layered_starts: list[datetime],
    region: Span,
    overriding: list[int],
) -> list[Shift]:
    """The final shifts within one region covered by overrides (those in ``overriding``)."""
    region_start, region_end = region
    points = {region_start, region_end}
    for i in overriding:
        points.add(spec.overrides[i].start)
        points.add(spec.overrides[i].end)
    first = max(bisect_right(layered_starts, region_start) - 1, 0)
    for shift in layered[first:]:
        if shift.start >= region_end:
            break
        points.add(shift.start)
        points.add(shift.end)
    cuts = sorted(t for t in points if region_start <= t <= region_end)
    # Latest created first (ties: later in the list), so the first that applies wins.
    overriding = sorted(overriding, key=lambda i: (spec.overrides[i].created_at, i), reverse=True)
    out = []
    for start, end in pairwise(cuts):
        at = bisect_right(layered_starts, start) - 1
        base = layered[at] if at >= 0 and layered[at].end > start else None
        for i in overriding:
            override = spec.overrides[i]
            if override.start <= start < override.end and (
                override.replaces_user_id is None
                or (base is not None and base.user_id == override.replaces_user_id)
            ):
                out.append(Shift(start, end, override.user_id, None, i))
                break
        else:
            if base is not None:
                out.append(base.cut(start, end))
    return out


def _merge(shifts: list[Shift]) -> list[Shift]:
    """Join touching pieces of the same user from the same source."""
    merged: list[Shift] = []
    for shift in shifts:
        if merged and merged[-1].end == shift.start and merged[-1].same_source(shift):
            merged[-1] = merged[-1].cut(merged[-1].start, shift.end)
        else:
            merged.append(shift)
    return merged


def _window(window_start: datetime, window_end: datetime) -> tuple[datetime, datetime]:
    if window_start.tzinfo is None or window_end.tzinfo is None:
        raise ValueError("window bounds must be timezone-aware")
    lo, hi = window_start.astimezone(UTC), window_end.astimezone(UTC)
    if hi < lo:
        raise ValueError("window end must not be before its start")
    if hi - lo > MAX_WINDOW:
        raise ValueError(f"window longer than {MAX_WINDOW.days} days")
    if lo < EARLIEST.replace(tzinfo=UTC) or hi > LATEST.replace(tzinfo=UTC):
        raise ValueError(f"window must lie between {EARLIEST:%Y} and {LATEST:%Y}")
    return lo, hi


def layer_shifts(
    spec: ScheduleSpec, layer_index: int, window_start: datetime, window_end: datetime
) -> list[Shift]:
    """One layer's own rotation shifts in the window, cut to its restrictions (each
    restriction window piece is its own shift), before other layers and overrides."""
    if not 0 <= layer_index < len(spec.layers):
        raise IndexError(f"no layer {layer_index}")
    lo, hi = _window(window_start, window_end)
    return _layer_shifts(spec, layer_index, spec.zone, lo, hi) if lo < hi else []


def render(spec: ScheduleSpec, window_start: datetime, window_end: datetime) -> list[Shift]:
    """The final schedule in the window (at most 90 days): the highest layer with someone
    wins, gaps fall through, overrides on top; touching pieces of one user from one source
    joined; sorted. Where no shift is, nobody is on call."""
    lo, hi = _window(window_start, window_end)
    if lo == hi:
        return []
    zone = spec.zone
    layered: list[Shift] = []
    for index in range(len(spec.layers)):
        layered = _overlay(layered, _layer_shifts(spec, index, zone, lo, hi))
    return _merge(_apply_overrides(spec, layered, lo, hi))


def on_call_at(spec: ScheduleSpec, at: datetime) -> list[str]:
    """Who is on call at the instant ``at``; empty means nobody."""
    return [shift.user_id for shift in render(spec, at, at + _TICK)]
