"""On-call schedules as stored: the schedule with its layers (a validated ScheduleSpec's
layers, as JSON), its overrides (rows: created and deleted one by one, each with an id), and
calendar feed tokens (hashed). ``load_spec`` turns them back into the ScheduleSpec that
models/shifts.py renders.
"""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pydantic
from sqlalchemy import Index
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.columns import jsonb, timestamp, utcnow
from models.schedule_spec import EARLIEST, LATEST, LayerSpec, OverrideSpec, ScheduleSpec
from models.shifts import MAX_WINDOW, Shift, render, to_utc

MAX_LAYERS = 20


class NamedLayer(LayerSpec):
    """A layer as configured and stored: the spec plus an optional label for people."""

    name: str | None = pydantic.Field(default=None, min_length=1, max_length=200)


class Schedule(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=40)
    name: str = Field(unique=True, max_length=200)
    description: str | None = None
    time_zone: str = Field(max_length=100)
    # [LayerSpec as camelCase JSON], index 0 the lowest layer.
    layers: list[dict[str, Any]] = Field(default_factory=list, sa_column=jsonb(nullable=False))
    team_id: str | None = Field(default=None, foreign_key="team.id", max_length=40)
    # The incoming person gets a Slack DM or email when their shift starts.
    handoff_notifications: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=timestamp())


class ScheduleOverride(SQLModel, table=True):
    __tablename__ = "schedule_override"
    __table_args__ = (Index("ix_schedule_override_schedule_end", "schedule_id", "end"),)

    id: str = Field(primary_key=True, max_length=40)
    schedule_id: str = Field(foreign_key="schedule.id", ondelete="CASCADE", max_length=40)
    user_id: str = Field(max_length=40)
    # Only where this user is on call (per the layers); None: whoever is.
    replaces_user_id: str | None = Field(default=None, max_length=40)
    start: datetime = Field(sa_column=timestamp())
    end: datetime = Field(sa_column=timestamp())
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp())


class CalendarFeed(SQLModel, table=True):
    """An iCalendar feed's secret URL token (SHA-256 stored): a schedule's or a person's."""

    __tablename__ = "calendar_feed"

    id: str = Field(primary_key=True, max_length=40)
    token_hash: str = Field(unique=True, max_length=64)
    schedule_id: str | None = Field(
        default=None, foreign_key="schedule.id", ondelete="CASCADE", max_length=40
    )
    user_id: str | None = Field(default=None, max_length=40)
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp())


def layer_spec(stored: Mapping[str, Any]) -> LayerSpec:
    """A stored layer (camelCase JSON, maybe with a ``name``) as the renderer's LayerSpec."""
    return LayerSpec.model_validate({k: v for k, v in stored.items() if k != "name"})


def stored_layers(schedule: Schedule) -> list[NamedLayer]:
    return [NamedLayer.model_validate(layer) for layer in schedule.layers]


def check_instant(value: datetime) -> datetime:
    """An aware instant in the years the renderer handles, in UTC. The year is checked
    before any offset arithmetic, which would overflow at the ends of datetime's range."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("expected a date-time with an offset (e.g. 2026-03-02T09:00:00Z)")
    if not EARLIEST.year < value.year < LATEST.year:
        raise ValueError(f"expected a date-time from {EARLIEST.year + 1} to {LATEST.year - 1}")
    return value.astimezone(UTC)


def layer_span(spec: ScheduleSpec) -> tuple[datetime, datetime | None] | None:
    """The instants the layers can cover: from the earliest layer start to the latest layer
    end (None: some layer never ends); None when there are no layers."""
    if not spec.layers:
        return None
    zone = spec.zone
    start = min(to_utc(layer.start, zone) for layer in spec.layers)
    ends = [layer.end for layer in spec.layers]
    if any(end is None for end in ends):
        return start, None
    return start, max(to_utc(end, zone) for end in ends if end is not None)


def render_span(spec: ScheduleSpec, window_start: datetime, window_end: datetime) -> list[Shift]:
    """``render`` for a window of any length: rendered in pieces of at most 90 days and
    joined where a shift crosses a seam (rendering is pointwise, so this equals one render)."""
    shifts: list[Shift] = []
    lo = window_start
    while lo < window_end:
        hi = min(lo + MAX_WINDOW, window_end)
        for shift in render(spec, lo, hi):
            if shifts and shifts[-1].end == shift.start and shifts[-1].same_source(shift):
                shifts[-1] = shifts[-1].cut(shifts[-1].start, shift.end)
            else:
                shifts.append(shift)
        lo = hi
    return shifts


def spec_of(schedule: Schedule, overrides: list[ScheduleOverride]) -> ScheduleSpec:
    """Overrides appear in creation order, so "latest created wins" holds."""
    ordered = sorted(overrides, key=lambda o: (o.created_at, o.id))
    return ScheduleSpec(
        time_zone=schedule.time_zone,
        layers=[layer_spec(layer) for layer in schedule.layers],
        overrides=[
            OverrideSpec(
                user_id=o.user_id,
                replaces_user_id=o.replaces_user_id,
                start=o.start,
                end=o.end,
                created_at=o.created_at,
            )
            for o in ordered
        ],
    )


async def load_spec(
    session: AsyncSession, schedule_id: str, window_start: datetime, window_end: datetime
) -> tuple[Schedule, ScheduleSpec, list[ScheduleOverride]] | None:
    """The schedule and its spec with the overrides that touch [window_start, window_end);
    the overrides are returned too, in spec order, so callers can map a Shift.override
    index back to its row."""
    schedule = await session.get(Schedule, schedule_id)
    if schedule is None:
        return None
    rows = (
        await session.exec(
            select(ScheduleOverride)
            .where(
                ScheduleOverride.schedule_id == schedule_id,
                col(ScheduleOverride.end) > window_start,
                col(ScheduleOverride.start) < window_end,
            )
            .order_by(col(ScheduleOverride.created_at), col(ScheduleOverride.id))
        )
    ).all()
    overrides = list(rows)
    return schedule, spec_of(schedule, overrides), overrides
