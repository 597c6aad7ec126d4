"""Users, teams and team membership: the writes shared by the CLI and the management API.

Functions flush but never commit (the caller's ``session_scope`` does); they raise
``models.errors`` exceptions naming the field at fault.
"""

import re
from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.audit import record, snapshot
from models.auth import ApiKey
from models.columns import utcnow
from models.errors import Conflict, InvalidValue, UnknownReference
from models.schedules import Schedule
from models.service import Service
from models.time_zones import known_time_zone
from models.uniqueness import flush_unique, lock_row
from models.user import ROLES, Team, TeamMember, User
from tocsin.keys import new_id

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalize_email(email: str) -> str:
    email = email.strip().lower()
    if len(email) > 320 or not _EMAIL.match(email):
        raise InvalidValue("email", f"not an email address: {email!r}")
    return email


def check_timezone(name: str) -> str:
    try:
        known_time_zone(name)
    except ValueError as err:
        raise InvalidValue("timezone", str(err)) from err
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidValue("role", f"role must be one of {', '.join(ROLES)}")
    return role


# --- users ------------------------------------------------------------------------------


async def create_user(
    session: AsyncSession,
    name: str,
    email: str,
    timezone: str = "UTC",
    role: str = "responder",
) -> User:
    user = User(
        id=new_id("usr"),
        name=name,
        email=normalize_email(email),
        timezone=check_timezone(timezone),
        role=check_role(role),
    )
    await _require_free_email(session, user.email)
    session.add(user)
    await flush_unique(session, "email", f"a user with email {user.email} exists")
    record(session, "create", user, after=snapshot(user))
    return user


async def update_user(
    session: AsyncSession,
    user: User,
    *,
    name: str | None = None,
    email: str | None = None,
    timezone: str | None = None,
    role: str | None = None,
) -> User:
    before = snapshot(user)
    if name is not None:
        user.name = name
    if email is not None and (email := normalize_email(email)) != user.email:
        # Check before assigning: the query would autoflush the change first.
        await _require_free_email(session, email)
        user.email = email
    if timezone is not None:
        user.timezone = check_timezone(timezone)
    if role is not None:
        user.role = check_role(role)
    session.add(user)
    await flush_unique(session, "email", f"a user with email {user.email} exists")
    record(session, "update", user, before=before, after=snapshot(user))
    return user


async def delete_user(session: AsyncSession, user: User) -> None:
    """Removes the user from every team and revokes the user's API keys (a revoked key
    never authenticates again, so detaching it from the deleted user widens nothing)."""
    before = snapshot(user)
    await session.exec(delete(TeamMember).where(col(TeamMember.user_id) == user.id))
    await session.exec(
        update(ApiKey)
        .where(col(ApiKey.user_id) == user.id)
        # Keys revoked earlier keep their revocation time.
        .values(revoked_at=func.coalesce(col(ApiKey.revoked_at), utcnow()), user_id=None)
        .execution_options(synchronize_session=False)
    )
    await session.delete(user)
    await session.flush()
    record(session, "delete", user, before=before)


async def _require_free_email(session: AsyncSession, email: str) -> None:
    taken = await session.exec(select(User.id).where(User.email == email))
    if taken.first() is not None:
        raise Conflict("email", f"a user with email {email} exists")


async def require_users(session: AsyncSession, user_ids: Iterable[str], field: str) -> None:
    wanted = set(user_ids)
    if not wanted:
        return
    found = set((await session.exec(select(User.id).where(col(User.id).in_(wanted)))).all())
    missing = sorted(wanted - found)
    if missing:
        raise UnknownReference(field, f"unknown user {missing[0]}")


# --- teams ------------------------------------------------------------------------------


async def create_team(
    session: AsyncSession, name: str, member_ids: Iterable[str] = ()
) -> tuple[Team, list[str]]:
    members = sorted(set(member_ids))
    await require_users(session, members, "member_ids")
    await _require_free_team_name(session, name)
    team = Team(id=new_id("team"), name=name)
    session.add(team)
    await flush_unique(session, "name", f"a team named {name!r} exists")
    session.add_all(TeamMember(team_id=team.id, user_id=u) for u in members)
    await session.flush()
    record(session, "create", team, after=snapshot(team, member_ids=members))
    return team, members


async def update_team(
    session: AsyncSession,
    team: Team,
    *,
    name: str | None = None,
    member_ids: Iterable[str] | None = None,
) -> Team:
    """``member_ids``, when given, replaces the membership."""
    before = await _team_snapshot(session, team)
    if name is not None and name != team.name:
        await _require_free_team_name(session, name)
        team.name = name
        session.add(team)
        await flush_unique(session, "name", f"a team named {name!r} exists")
    if member_ids is not None:
        members = set(member_ids)
        await require_users(session, members, "member_ids")
        await session.exec(delete(TeamMember).where(col(TeamMember.team_id) == team.id))
        session.add_all(TeamMember(team_id=team.id, user_id=u) for u in sorted(members))
        await session.flush()
    record(session, "update", team, before=before, after=await _team_snapshot(session, team))
    return team


async def _team_snapshot(session: AsyncSession, team: Team) -> dict[str, Any] | None:
    return snapshot(team, member_ids=(await member_ids(session, [team.id]))[team.id])


async def delete_team(session: AsyncSession, team: Team) -> None:
    """Its services and schedules stay, without a team (so non-admin users' keys no longer
    reach those services)."""
    before = await _team_snapshot(session, team)
    await session.exec(delete(TeamMember).where(col(TeamMember.team_id) == team.id))
    for owned in (Service, Schedule):
        await session.exec(
            update(owned)
            .where(col(owned.team_id) == team.id)
            .values(team_id=None)
            .execution_options(synchronize_session=False)
        )
    await session.delete(team)
    await session.flush()
    record(session, "delete", team, before=before)


async def add_member(session: AsyncSession, team: Team, user_id: str) -> None:
    await require_users(session, [user_id], "user_id")
    await lock_row(session, Team.id, team.id)
    if await session.get(TeamMember, (team.id, user_id)) is None:
        before = await _team_snapshot(session, team)
        session.add(TeamMember(team_id=team.id, user_id=user_id))
        await session.flush()
        after = await _team_snapshot(session, team)
        record(session, "add_member", team, before=before, after=after)


async def remove_member(session: AsyncSession, team: Team, user_id: str) -> bool:
    member = await session.get(TeamMember, (team.id, user_id))
    if member is None:
        return False
    before = await _team_snapshot(session, team)
    await session.delete(member)
    await session.flush()
    record(session, "remove_member", team, before=before, after=await _team_snapshot(session, team))
    return True


async def member_ids(session: AsyncSession, team_ids: Iterable[str]) -> dict[str, list[str]]:
    """Each team's member ids, sorted."""
    by_team: dict[str, list[str]] = {t: [] for t in team_ids}
    if by_team:
        rows = await session.exec(
            select(TeamMember)
            .where(col(TeamMember.team_id).in_(by_team))
            .order_by(col(TeamMember.user_id))
        )
        for member in rows.all():
            by_team[member.team_id].append(member.user_id)
    return by_team


async def require_team(session: AsyncSession, team_id: str, field: str = "team_id") -> None:
    if await session.get(Team, team_id) is None:
        raise UnknownReference(field, f"unknown team {team_id}")


async def _require_free_team_name(session: AsyncSession, name: str) -> None:
    taken = await session.exec(select(Team.id).where(Team.name == name))
    if taken.first() is not None:
        raise Conflict("name", f"a team named {name!r} exists")


# --- access -----------------------------------------------------------------------------


async def team_service_ids(session: AsyncSession, user_id: str) -> frozenset[str]:
    """The services owned by the user's teams."""
    rows = await session.exec(
        select(Service.id)
        .join(TeamMember, col(TeamMember.team_id) == col(Service.team_id))
        .where(TeamMember.user_id == user_id)
    )
    return frozenset(rows.all())
