"""Test set-up for schedules as rows inserted directly (no API in the way): for escalation,
on-call and handoff tests."""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from models.db import session_scope
from models.schedule_spec import LayerSpec
from models.schedules import Schedule, ScheduleOverride
from tocsin.keys import new_id


def layer(users: Sequence[str], start: datetime, **shift: object) -> LayerSpec:
    """A layer from ``start`` (aware → its UTC wall time; the schedules here are in UTC)."""
    wall = start.astimezone(UTC).replace(tzinfo=None) if start.tzinfo else start
    kind = "hours" if "hours" in shift else "days"
    return LayerSpec.model_validate(
        {"start": wall, "users": list(users), "shift": {"kind": kind, **(shift or {"days": 1})}}
    )


async def make_schedule(
    engine: AsyncEngine,
    layers: Sequence[LayerSpec],
    *,
    zone: str = "UTC",
    handoffs: bool = False,
    name: str | None = None,
) -> Schedule:
    schedule = Schedule(
        id=new_id("sch"),
        name=name or f"sched-{uuid.uuid4().hex[:6]}",
        time_zone=zone,
        layers=[x.model_dump(mode="json", by_alias=True) for x in layers],
        handoff_notifications=handoffs,
    )
    async with session_scope(engine) as session:
        session.add(schedule)
    return schedule


async def add_override(
    engine: AsyncEngine,
    schedule_id: str,
    user_id: str,
    start: datetime,
    end: datetime,
    *,
    created_at: datetime | None = None,
) -> str:
    override = ScheduleOverride(
        id=new_id("ovr"), schedule_id=schedule_id, user_id=user_id, start=start, end=end
    )
    if created_at is not None:
        override.created_at = created_at
    async with session_scope(engine) as session:
        session.add(override)
    return override.id


async def delete_schedule(engine: AsyncEngine, schedule_id: str) -> None:
    async with session_scope(engine) as session:
        schedule = await session.get(Schedule, schedule_id)
        assert schedule is not None
        await session.delete(schedule)
