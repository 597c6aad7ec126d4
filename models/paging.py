"""Who is paged and how: a service's policy, its targets expanded to people, and each
person's channels for an urgency. Read by the escalation activities and ``/tocsin who``.

Targets are resolved when a step fires, so people deleted since the policy was written are
skipped, and a team's members are whoever is in it at that moment.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.escalation import EscalationPolicy, EscalationStep
from models.notifications import ContactMethod, NotificationRule
from models.service import Service
from models.user import TeamMember, User

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
    service = await session.get(Service, service_id)
    if service is None:
        return None
    if service.escalation_policy_id is None:
        return ServicePolicy(service, None, ())
    policy = await session.get(EscalationPolicy, service.escalation_policy_id)
    if policy is None:
        return ServicePolicy(service, None, ())
    steps = (
        await session.exec(
            select(EscalationStep)
            .where(EscalationStep.policy_id == policy.id)
            .order_by(col(EscalationStep.position))
        )
    ).all()
    return ServicePolicy(service, policy, steps)


async def expand_targets(session: AsyncSession, targets: Iterable[dict[str, str]]) -> list[User]:
    """The people behind a step's targets, in order, each once; missing ones are skipped."""
    ordered: list[str] = []
    for target in targets:
        if target.get("type") == "user":
            ordered.append(target["id"])
        elif target.get("type") == "team":
            members = await session.exec(
                select(TeamMember.user_id)
                .where(TeamMember.team_id == target["id"])
                .order_by(col(TeamMember.user_id))
            )
            ordered.extend(members.all())
    wanted = list(dict.fromkeys(ordered))
    if not wanted:
        return []
    found = {u.id: u for u in (await session.exec(select(User).where(col(User.id).in_(wanted))))}
    return [found[i] for i in wanted if i in found]


async def on_call_users(session: AsyncSession, service_id: str) -> list[User]:
    """Who is paged first for the service: the first step's people, or with no policy the
    service's team (seed 001's fallback)."""
    found = await service_policy(session, service_id)
    if found is None:
        return []
    if found.steps:
        return await expand_targets(session, found.steps[0].targets)
    if found.service.team_id is None:
        return []
    return await expand_targets(session, [{"type": "team", "id": found.service.team_id}])


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
