"""Who is paged and how: a service's policy, its targets expanded to people, and each
person's channels for an urgency. Read by the escalation activities, ``/tocsin who`` and
``GET /api/oncall``.

Targets are resolved when a step fires, so people, teams and schedules deleted since the
policy was written are skipped, a team's members are whoever is in it at that moment, and a
schedule is whoever is on call at that instant (its overrides included).
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.escalation import EscalationPolicy, EscalationStep
from models.notifications import ContactMethod, NotificationRule
from models.schedules import load_spec
from models.service import Service
from models.shifts import on_call_at
from models.user import Team, TeamMember, User

# The overrides read for an instant: those touching [at, at + this).
_INSTANT = timedelta(seconds=1)

# Without a rule for an urgency a person is reached on every contact method they have,
# except for LOW urgency, which only emails (as PagerDuty's default rules do).
DEFAULT_CHANNELS = {
    "HIGH": ("slack", "email", "webhook"),
    "MEDIUM": ("slack", "email", "webhook"),
    "LOW": ("email",),
}


@dataclass(frozen=True)
class ServicePolicy:
    service: Service
    policy: EscalationPolicy | None
    steps: Sequence[EscalationStep]


@dataclass(frozen=True)
class Contact:
    user: User
    channel: str
    address: str


async def service_policy(session: AsyncSession, service_id: str) -> ServicePolicy | None:
    """The service with its policy and the policy's steps in order, in one round trip (the
    escalation loop asks this each time a step fires)."""
    rows = (
        await session.exec(
            select(Service, EscalationPolicy, EscalationStep)
            .where(Service.id == service_id)
            .outerjoin(EscalationPolicy, col(EscalationPolicy.id) == Service.escalation_policy_id)
            .outerjoin(EscalationStep, col(EscalationStep.policy_id) == EscalationPolicy.id)
            .order_by(col(EscalationStep.position))
        )
    ).all()
    if not rows:
        return None
    service, policy, _ = rows[0]
    return ServicePolicy(service, policy, tuple(step for _, _, step in rows if step is not None))


@dataclass(frozen=True)
class Via:
    """A target that brought someone in (``name`` None for a user target)."""

    type: str
    id: str
    name: str | None = None


@dataclass(frozen=True)
class ScheduleOnCall:
    """A schedule target as resolved: who was on call (existing people only; empty means
    nobody)."""

    schedule_id: str
    name: str
    user_ids: tuple[str, ...]


@dataclass(frozen=True)
class Resolved:
    users: list[User]
    # user id -> the targets that brought them, in target order.
    via: dict[str, list[Via]] = field(default_factory=dict)
    schedules: list[ScheduleOnCall] = field(default_factory=list)


async def schedule_on_call(
    session: AsyncSession, schedule_id: str, at: datetime
) -> tuple[str, list[str]] | None:
    """The schedule's name and who is on call at ``at``; None for a deleted schedule."""
    loaded = await load_spec(session, schedule_id, at, at + _INSTANT)
    if loaded is None:
        return None
    schedule, spec, _ = loaded
    return schedule.name, on_call_at(spec, at)


async def resolve_targets(
    session: AsyncSession, targets: Iterable[dict[str, str]], at: datetime | None = None
) -> Resolved:
    """The people behind a step's targets at ``at`` (default now), in order, each once, with
    what brought each; missing people, teams and schedules are skipped."""
    at = at or datetime.now(UTC)
    brought: list[tuple[str, Via]] = []
    on_call: list[tuple[str, str, list[str]]] = []
    for target in targets:
        kind, target_id = target.get("type"), target.get("id", "")
        if kind == "user":
            brought.append((target_id, Via("user", target_id)))
        elif kind == "team":
            team = await session.get(Team, target_id)
            if team is None:
                continue
            members = await session.exec(
                select(TeamMember.user_id)
                .where(TeamMember.team_id == target_id)
                .order_by(col(TeamMember.user_id))
            )
            brought.extend((m, Via("team", team.id, team.name)) for m in members.all())
        elif kind == "schedule":
            found = await schedule_on_call(session, target_id, at)
            if found is None:
                continue
            name, user_ids = found
            on_call.append((target_id, name, user_ids))
            brought.extend((u, Via("schedule", target_id, name)) for u in user_ids)
    wanted = list(dict.fromkeys(user_id for user_id, _ in brought))
    found_users: dict[str, User] = {}
    if wanted:
        rows = await session.exec(select(User).where(col(User.id).in_(wanted)))
        found_users = {u.id: u for u in rows}
    via: dict[str, list[Via]] = {}
    for user_id, reason in brought:
        if user_id in found_users and reason not in via.setdefault(user_id, []):
            via[user_id].append(reason)
    return Resolved(
        users=[found_users[i] for i in wanted if i in found_users],
        via={i: v for i, v in via.items() if i in found_users},
        schedules=[
            ScheduleOnCall(i, name, tuple(u for u in users if u in found_users))
            for i, name, users in on_call
        ],
    )


async def expand_targets(
    session: AsyncSession, targets: Iterable[dict[str, str]], at: datetime | None = None
) -> list[User]:
    """The people behind a step's targets, in order, each once; missing ones are skipped."""
    return (await resolve_targets(session, targets, at)).users


@dataclass(frozen=True)
class FirstPaged:
    """Who a service's incident would page first: ``source`` "policy" (its first step),
    "team" (no policy: the service's team) or "none"."""

    service: Service
    source: str
    policy: EscalationPolicy | None
    resolved: Resolved


async def first_paged(
    session: AsyncSession, service_id: str, at: datetime | None = None
) -> FirstPaged | None:
    """Who is paged first for the service at ``at`` (default now): the first step's people,
    or with no policy the service's team (seed 001's fallback); None for an unknown
    service."""
    found = await service_policy(session, service_id)
    if found is None:
        return None
    if found.steps:
        resolved = await resolve_targets(session, found.steps[0].targets, at)
        return FirstPaged(found.service, "policy", found.policy, resolved)
    if found.service.team_id is not None:
        team = [{"type": "team", "id": found.service.team_id}]
        return FirstPaged(found.service, "team", None, await resolve_targets(session, team, at))
    return FirstPaged(found.service, "none", None, Resolved(users=[]))


async def on_call_users(session: AsyncSession, service_id: str) -> list[User]:
    """Who is paged first for the service right now (see :func:`first_paged`)."""
    found = await first_paged(session, service_id)
    return [] if found is None else found.resolved.users


async def contacts(
    session: AsyncSession, users: Sequence[User], urgency: str, channels: Sequence[str] | None
) -> list[Contact]:
    """Each person's addresses on the channels the step names, else on their own rule's
    channels for this urgency. Email falls back to the account's address; Slack to the
    account's email too (the Slack sender looks it up), so nobody is unreachable by default."""
    if not users:
        return []
    ids = [u.id for u in users]
    methods = (
        await session.exec(
            select(ContactMethod)
            .where(col(ContactMethod.user_id).in_(ids))
            .order_by(col(ContactMethod.created_at), col(ContactMethod.id))
        )
    ).all()
    rules = {
        r.user_id: r.channels
        for r in (
            await session.exec(
                select(NotificationRule).where(
                    col(NotificationRule.user_id).in_(ids), NotificationRule.urgency == urgency
                )
            )
        ).all()
    }
    out: list[Contact] = []
    for user in users:
        own = [m for m in methods if m.user_id == user.id]
        wanted = channels if channels is not None else rules.get(user.id)
        if wanted is None:
            wanted = [c for c in DEFAULT_CHANNELS.get(urgency, ("email",)) if _has(own, c)]
        for channel in wanted:
            addresses = [m.address for m in own if m.type == channel]
            if not addresses and channel in ("email", "slack"):
                addresses = [user.email]
            out.extend(Contact(user, channel, a) for a in addresses)
    return out


def _has(methods: Sequence[ContactMethod], channel: str) -> bool:
    # Every account has an email address, so email is always a way to reach someone.
    return channel == "email" or any(m.type == channel for m in methods)
