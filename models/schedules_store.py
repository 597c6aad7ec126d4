"""Creating, changing and deleting schedules, their overrides and calendar feeds: shared by
the API and the CLI. Functions flush but never commit; they raise ``models.errors`` naming the
(snake_case) field, so both report the same refusal."""

import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError
from pydantic.alias_generators import to_snake
from sqlalchemy import delete
from sqlmodel import col, select, tuple_
from sqlmodel.ext.asyncio.session import AsyncSession

from models.audit import record, snapshot
from models.columns import utcnow
from models.directory import require_team, require_users
from models.errors import InUse, InvalidValue, UnknownReference
from models.escalation import EscalationStep
from models.schedule_spec import ScheduleSpec
from models.schedules import (
    MAX_LAYERS,
    CalendarFeed,
    NamedLayer,
    Schedule,
    ScheduleOverride,
    check_instant,
    layer_span,
    spec_of,
)
from models.uniqueness import flush_unique, require_free
from models.user import User
from tocsin.keys import hash_key, new_id

LayerInput = NamedLayer | Mapping[str, Any]
_LAYERS = TypeAdapter(list[NamedLayer])


# --- validation -------------------------------------------------------------------------


def check_layers(time_zone: str, layers: Sequence[LayerInput] | Any) -> list[NamedLayer]:
    """The zone and layers as the renderer will read them; the first fault is named, e.g.
    ``time_zone`` or ``layers.0.shift.weekly.handoff_weekday``."""
    try:
        ScheduleSpec(time_zone=time_zone)
    except ValidationError as err:
        raise InvalidValue("time_zone", _message(err)) from err
    if isinstance(layers, str | bytes) or not isinstance(layers, Sequence):
        raise InvalidValue("layers", "expected a list of layers")
    if len(layers) > MAX_LAYERS:
        raise InvalidValue("layers", f"at most {MAX_LAYERS} layers")
    try:
        return _LAYERS.validate_python(list(layers))
    except ValidationError as err:
        raise _invalid("layers", err) from err


def _invalid(prefix: str, err: ValidationError) -> InvalidValue:
    loc = [
        str(part) if isinstance(part, int) else to_snake(str(part))
        for part in err.errors()[0]["loc"]
    ]
    return InvalidValue(".".join([prefix, *loc]), _message(err))


def _message(err: ValidationError) -> str:
    return str(err.errors()[0]["msg"]).removeprefix("Value error, ")


def _check_name(name: str) -> str:
    if not 1 <= len(name) <= 200:
        raise InvalidValue("name", "a name needs 1 to 200 characters")
    return name


def _instant(field: str, value: datetime) -> datetime:
    try:
        return check_instant(value)
    except ValueError as err:
        raise InvalidValue(field, str(err)) from err


async def _require_layer_users(session: AsyncSession, layers: Sequence[NamedLayer]) -> None:
    """Every rotation member is a user; the first unknown one is named by its position."""
    wanted = {user_id for layer in layers for user_id in layer.users}
    if not wanted:
        return
    found = set((await session.exec(select(User.id).where(col(User.id).in_(wanted)))).all())
    for i, layer in enumerate(layers):
        for j, user_id in enumerate(layer.users):
            if user_id not in found:
                raise UnknownReference(f"layers.{i}.users.{j}", f"unknown user {user_id}")


def _stored(layers: Sequence[NamedLayer]) -> list[dict[str, Any]]:
    return [layer.model_dump(mode="json", by_alias=True) for layer in layers]


# --- schedules --------------------------------------------------------------------------


async def create_schedule(
    session: AsyncSession,
    name: str,
    time_zone: str,
    layers: Sequence[LayerInput],
    *,
    description: str | None = None,
    team_id: str | None = None,
    handoff_notifications: bool = False,
) -> Schedule:
    _check_name(name)
    checked = check_layers(time_zone, layers)
    await _require_layer_users(session, checked)
    if team_id is not None:
        await require_team(session, team_id)
    await require_free(session, Schedule.name, name, "name", _taken(name))
    now = utcnow()
    schedule = Schedule(
        id=new_id("sch"),
        name=name,
        description=description,
        time_zone=time_zone,
        layers=_stored(checked),
        team_id=team_id,
        handoff_notifications=handoff_notifications,
        created_at=now,
        updated_at=now,
    )
    session.add(schedule)
    await flush_unique(session, "name", _taken(name))
    record(session, "create", schedule, after=snapshot(schedule))
    return schedule


async def update_schedule(
    session: AsyncSession, schedule: Schedule, changes: Mapping[str, Any]
) -> Schedule:
    """``changes`` maps name, description, time_zone, layers (replacing every layer),
    team_id and handoff_notifications to new values."""
    before = snapshot(schedule)
    if "time_zone" in changes or "layers" in changes:
        time_zone = changes.get("time_zone", schedule.time_zone)
        checked = check_layers(time_zone, changes.get("layers", schedule.layers))
        if "layers" in changes:
            await _require_layer_users(session, checked)
        schedule.time_zone = time_zone
        schedule.layers = _stored(checked)
    if changes.get("team_id") is not None:
        await require_team(session, changes["team_id"])
    name = changes.get("name")
    if name is not None and name != schedule.name:
        # Check before assigning: the query would autoflush the change first.
        await require_free(session, Schedule.name, _check_name(name), "name", _taken(name))
        schedule.name = name
    for field in ("description", "team_id", "handoff_notifications"):
        if field in changes:
            setattr(schedule, field, changes[field])
    schedule.updated_at = utcnow()
    session.add(schedule)
    await flush_unique(session, "name", _taken(schedule.name))
    record(session, "update", schedule, before=before, after=snapshot(schedule))
    return schedule


async def delete_schedule(session: AsyncSession, schedule: Schedule) -> None:
    """Refused (InUse) while an escalation step targets the schedule; its overrides and
    calendar feeds go with it."""
    policies = await schedule_policy_ids(session, schedule.id)
    if policies:
        raise InUse(f"schedule is a target of escalation policies: {', '.join(policies)}", policies)
    before = snapshot(schedule)
    await session.delete(schedule)
    await session.flush()
    record(session, "delete", schedule, before=before)


async def schedule_policy_ids(session: AsyncSession, schedule_id: str) -> list[str]:
    """The escalation policies with a step targeting the schedule, sorted."""
    rows = await session.exec(
        select(EscalationStep.policy_id)
        .where(col(EscalationStep.targets).contains([{"type": "schedule", "id": schedule_id}]))
        .distinct()
        .order_by(col(EscalationStep.policy_id))
    )
    return list(rows.all())


async def list_schedules(
    session: AsyncSession, limit: int, after: tuple[datetime, str] | None = None
) -> Sequence[Schedule]:
    """Oldest first; ``after`` is the (created_at, id) of the previous page's last one."""
    query = select(Schedule).order_by(col(Schedule.created_at), col(Schedule.id)).limit(limit)
    if after is not None:
        query = query.where(tuple_(col(Schedule.created_at), col(Schedule.id)) > tuple_(*after))
    return (await session.exec(query)).all()


def _taken(name: str) -> str:
    return f"a schedule named {name!r} exists"


# --- overrides --------------------------------------------------------------------------


async def add_override(
    session: AsyncSession,
    schedule: Schedule,
    user_id: str,
    start: datetime,
    end: datetime,
    replaces_user_id: str | None = None,
) -> ScheduleOverride:
    """``user_id`` covers [start, end) (aware instants). Refused when the interval lies wholly
    outside the span the layers cover: there would be nothing to override."""
    start, end = _instant("start", start), _instant("end", end)
    if end <= start:
        raise InvalidValue("end", "end must be after start")
    await require_users(session, [user_id], "user_id")
    if replaces_user_id is not None:
        await require_users(session, [replaces_user_id], "replaces_user_id")
    span = layer_span(spec_of(schedule, []))
    if span is None:
        raise InvalidValue("start", "the schedule has no layers, so nothing to override")
    first, last = span
    if end <= first:
        raise InvalidValue(
            "end", f"the override ends before the schedule's first layer starts ({first:%FT%TZ})"
        )
    if last is not None and start >= last:
        raise InvalidValue(
            "start", f"the override starts after the schedule's last layer ends ({last:%FT%TZ})"
        )
    override = ScheduleOverride(
        id=new_id("ovr"),
        schedule_id=schedule.id,
        user_id=user_id,
        replaces_user_id=replaces_user_id,
        start=start,
        end=end,
        created_at=utcnow(),
    )
    session.add(override)
    await session.flush()
    record(session, "create", override, after=snapshot(override))
    return override


async def list_overrides(
    session: AsyncSession, schedule_id: str, start: datetime, end: datetime | None = None
) -> Sequence[ScheduleOverride]:
    """The schedule's overrides touching [start, end) (end None: all later), by start."""
    query = select(ScheduleOverride).where(
        ScheduleOverride.schedule_id == schedule_id, col(ScheduleOverride.end) > start
    )
    if end is not None:
        query = query.where(col(ScheduleOverride.start) < end)
    query = query.order_by(col(ScheduleOverride.start), col(ScheduleOverride.created_at))
    return (await session.exec(query)).all()


async def delete_override(session: AsyncSession, schedule_id: str, override_id: str) -> bool:
    override = await session.get(ScheduleOverride, override_id)
    if override is None or override.schedule_id != schedule_id:
        return False
    before = snapshot(override)
    await session.delete(override)
    await session.flush()
    record(session, "delete", override, before=before)
    return True


# --- calendar feeds ---------------------------------------------------------------------


def new_feed_token() -> str:
    return "cal_" + secrets.token_urlsafe(32)


async def create_feed(
    session: AsyncSession, *, schedule_id: str | None = None, user_id: str | None = None
) -> tuple[CalendarFeed, str]:
    """A feed of one schedule or of one person's shifts, and its token (only the hash is
    stored: the token is the feed's whole credential)."""
    if (schedule_id is None) == (user_id is None):
        raise ValueError("a feed is of a schedule or of a user")
    token = new_feed_token()
    feed = CalendarFeed(
        id=new_id("cal"), token_hash=hash_key(token), schedule_id=schedule_id, user_id=user_id
    )
    session.add(feed)
    await session.flush()
    record(session, "create", feed, after=snapshot(feed))
    return feed, token


async def revoke_feeds(
    session: AsyncSession, *, schedule_id: str | None = None, user_id: str | None = None
) -> int:
    """Delete every feed of the schedule (or the person's own feeds); how many went."""
    if schedule_id is not None:
        where = col(CalendarFeed.schedule_id) == schedule_id
    elif user_id is not None:
        where = (col(CalendarFeed.user_id) == user_id) & col(CalendarFeed.schedule_id).is_(None)
    else:
        raise ValueError("revoke the feeds of a schedule or of a user")
    result = await session.exec(delete(CalendarFeed).where(where).returning(col(CalendarFeed.id)))
    revoked = [row[0] for row in result.all()]
    for feed_id in revoked:
        record(session, "revoke", CalendarFeed, target_id=feed_id)
    return len(revoked)


async def find_feed(session: AsyncSession, token: str) -> CalendarFeed | None:
    rows = await session.exec(
        select(CalendarFeed).where(CalendarFeed.token_hash == hash_key(token))
    )
    return rows.first()
