"""Who is on call, and when: a schedule's rendered shifts with the people's names, for the
API, the CLI and calendar feeds alike (reads only; writes are in models/schedules_store.py)."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.schedule_spec import EARLIEST, LATEST
from models.schedules import Schedule, ScheduleOverride, load_spec, render_span
from models.shifts import Shift, layer_shifts, render
from models.user import User

# on_call renders ever wider windows around the instant until its shift fits inside one;
# a shift longer than the last is reported clipped to it.
_ONCALL_REACH = (timedelta(days=1), timedelta(days=14), timedelta(days=45))
_FIRST = EARLIEST.replace(tzinfo=UTC)
_LAST = LATEST.replace(tzinfo=UTC)


@dataclass(frozen=True)
class ShiftView:
    """A final shift with its person; ``user_name``/``user_email`` are None for a user
    deleted since the schedule named them."""

    schedule_id: str
    user_id: str
    user_name: str | None
    user_email: str | None
    start: datetime
    end: datetime
    layer: int | None
    override_id: str | None


async def users_by_id(session: AsyncSession, user_ids: Iterable[str]) -> dict[str, User]:
    wanted = set(user_ids)
    if not wanted:
        return {}
    rows = await session.exec(select(User).where(col(User.id).in_(wanted)))
    return {user.id: user for user in rows.all()}


async def _views(
    session: AsyncSession,
    schedule_id: str,
    shifts: Sequence[Shift],
    overrides: Sequence[ScheduleOverride],
) -> list[ShiftView]:
    users = await users_by_id(session, (shift.user_id for shift in shifts))
    views = []
    for shift in shifts:
        user = users.get(shift.user_id)
        views.append(
            ShiftView(
                schedule_id=schedule_id,
                user_id=shift.user_id,
                user_name=user.name if user else None,
                user_email=user.email if user else None,
                start=shift.start,
                end=shift.end,
                layer=shift.layer,
                override_id=None if shift.override is None else overrides[shift.override].id,
            )
        )
    return views


async def schedule_shifts(
    session: AsyncSession,
    schedule_id: str,
    start: datetime,
    end: datetime,
    *,
    layer: int | None = None,
) -> tuple[Schedule, list[ShiftView]] | None:
    """The final shifts in [start, end) (any length), or one layer's own shifts (at most
    90 days; the caller checks the index); None for an unknown schedule."""
    loaded = await load_spec(session, schedule_id, start, end)
    if loaded is None:
        return None
    schedule, spec, overrides = loaded
    if layer is None:
        shifts = render_span(spec, start, end)
    else:
        shifts = layer_shifts(spec, layer, start, end)
    return schedule, await _views(session, schedule_id, shifts, overrides)


async def on_call(
    session: AsyncSession, schedule_id: str, at: datetime
) -> tuple[Schedule, ShiftView | None] | None:
    """The shift containing ``at`` (None: nobody is on call), whole if it spans at most 45
    days either side of ``at``; None for an unknown schedule."""
    widest = _ONCALL_REACH[-1]
    loaded = await load_spec(
        session, schedule_id, max(at - widest, _FIRST), min(at + widest, _LAST)
    )
    if loaded is None:
        return None
    schedule, spec, overrides = loaded
    found: Shift | None = None
    for reach in _ONCALL_REACH:
        lo, hi = max(at - reach, _FIRST), min(at + reach, _LAST)
        found = next((s for s in render(spec, lo, hi) if s.start <= at < s.end), None)
        if found is None:
            return schedule, None
        if (found.start > lo or lo == _FIRST) and (found.end < hi or hi == _LAST):
            break  # not clipped by the window: whole
    assert found is not None
    [view] = await _views(session, schedule_id, [found], overrides)
    return schedule, view


async def user_shifts(
    session: AsyncSession, user_id: str, start: datetime, end: datetime
) -> list[tuple[Schedule, ShiftView]]:
    """One person's final shifts in [start, end) across every schedule, by start."""
    overriding = await session.exec(
        select(ScheduleOverride.schedule_id).where(
            ScheduleOverride.user_id == user_id,
            col(ScheduleOverride.end) > start,
            col(ScheduleOverride.start) < end,
        )
    )
    candidates = set(overriding.all())
    for schedule_id, layers in (await session.exec(select(Schedule.id, Schedule.layers))).all():
        if any(user_id in layer.get("users", ()) for layer in layers):
            candidates.add(schedule_id)
    out = []
    for schedule_id in sorted(candidates):
        found = await schedule_shifts(session, schedule_id, start, end)
        if found is not None:
            schedule, views = found
            out += [(schedule, view) for view in views if view.user_id == user_id]
    return sorted(out, key=lambda pair: (pair[1].start, pair[0].id))
