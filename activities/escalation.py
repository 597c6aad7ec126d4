"""Lookups the incident workflow makes while escalating (run as local activities: they are
short reads, and a local activity needs no round trip through the server)."""

from typing import Protocol

from pydantic import TypeAdapter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from activities.names import FIND_RECIPIENTS, LOAD_ESCALATION_POLICY, SERVICE_CHANNELS
from models.db import autocommit, session_scope
from models.paging import contacts, resolve_targets
from models.service import Service
from workflows.escalation import Policy, PolicyLookup, PolicyStep, Target
from workflows.notifications import (
    Channel,
    Page,
    Recipient,
    ScheduleOnCall,
    ServiceChannels,
    StepRecipients,
    StepTargets,
)

# The service, its policy and the policy's steps in order (as JSON), in one statement. Every
# new incident asks this in its first workflow task: through the ORM (a select built per
# call, three entities loaded) it took twice the CPU of the read-side write.
SERVICE_POLICY = text(
    "SELECT s.name, s.deleted_at IS NOT NULL AS deleted, s.team_id, s.slack_channel,"
    " s.webhook_url, p.id AS policy_id, p.repeat_count,"
    " (SELECT json_agg(json_build_object('delay_minutes', st.delay_minutes,"
    " 'targets', st.targets, 'channels', st.channels) ORDER BY st.position)"
    " FROM escalation_step st WHERE st.policy_id = p.id) AS steps"
    " FROM service s LEFT JOIN escalation_policy p ON p.id = s.escalation_policy_id"
    " WHERE s.id = :service_id"
)
_STEPS = TypeAdapter(list[PolicyStep])


class EscalationActivities:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @activity.defn(name=LOAD_ESCALATION_POLICY)
    async def load_policy(self, service_id: str) -> PolicyLookup:
        async with autocommit(self._engine).connect() as conn:
            row = (await conn.execute(SERVICE_POLICY, {"service_id": service_id})).first()
        if row is None or row.deleted:
            return PolicyLookup(source="none", channels=ServiceChannels())
        name = row.name
        channels = _channels(row)
        if row.policy_id is not None:
            steps = _STEPS.validate_python(row.steps or [])
            policy = Policy(id=row.policy_id, steps=steps, repeat_count=row.repeat_count)
            return PolicyLookup(
                source="policy", policy=policy, service_name=name, channels=channels
            )
        if row.team_id is not None:
            team = Target(type="team", id=row.team_id)
            once = Policy(id=f"team:{team.id}", steps=[PolicyStep(delay_minutes=0, targets=[team])])
            return PolicyLookup(source="team", policy=once, service_name=name, channels=channels)
        return PolicyLookup(source="none", service_name=name, channels=channels)

    @activity.defn(name=FIND_RECIPIENTS)
    async def find_recipients(self, step: StepTargets) -> StepRecipients:
        """The step's pages; schedule targets are resolved at ``step.at``, the instant the
        step fired (so a retried lookup still asks about that instant)."""
        channels = None if step.channels is None else [c.value for c in step.channels]
        async with session_scope(self._engine, read_only=True) as session:
            resolved = await resolve_targets(session, step.targets, step.at)
            found = await contacts(session, resolved.users, step.urgency.value, channels)
        names = {u.id: u.name for u in resolved.users}
        return StepRecipients(
            pages=[
                Page(
                    recipient=Recipient(user_id=c.user.id, name=c.user.name),
                    channel=Channel(c.channel),
                    address=c.address,
                )
                for c in found
            ],
            schedules=[
                ScheduleOnCall(
                    schedule_id=s.schedule_id,
                    name=s.name,
                    on_call=[Recipient(user_id=u, name=names[u]) for u in s.user_ids],
                )
                for s in resolved.schedules
            ],
        )

    @activity.defn(name=SERVICE_CHANNELS)
    async def service_channels(self, service_id: str) -> ServiceChannels:
        async with session_scope(self._engine, read_only=True) as session:
            service = await session.get(Service, service_id)
        if service is None or service.deleted_at is not None:
            return ServiceChannels()
        return _channels(service)


class _Announced(Protocol):
    """Where a service announces its incidents: a Service, or a row with those columns."""

    name: str
    slack_channel: str | None
    webhook_url: str | None


def _channels(service: _Announced) -> ServiceChannels:
    return ServiceChannels(
        service_name=service.name,
        slack_channel=service.slack_channel,
        webhook_url=service.webhook_url,
    )
