"""On-call schedules as stored: the schedule with its layers (a validated ScheduleSpec's
layers, as JSON), its overrides (rows: created and deleted one by one, each with an id), and
calendar feed tokens (hashed). ``load_spec`` turns them back into the ScheduleSpec that
models/shifts.py renders.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import Index
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.columns import jsonb, timestamp, utcnow
from models.schedule_spec import LayerSpec, OverrideSpec, ScheduleSpec


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


def spec_of(schedule: Schedule, overrides: list[ScheduleOverride]) -> ScheduleSpec:
    """Overrides appear in creation order, so "latest created wins" holds."""
    ordered = sorted(overrides, key=lambda o: (o.created_at, o.id))
    return ScheduleSpec(
        time_zone=schedule.time_zone,
        layers=[LayerSpec.model_validate(layer) for layer in schedule.layers],
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
