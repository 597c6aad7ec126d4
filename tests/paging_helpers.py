"""Test set-up for escalation: people with contact methods, policies, service channels."""

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncEngine

from models.catalog import update_service
from models.db import session_scope
from models.directory import create_team, create_user
from models.escalation import StepSpec, Target
from models.escalation_policies import create_policy
from models.notifications import ContactMethod, NotificationRule
from models.service import Service
from models.user import User
from tocsin.keys import new_id


async def make_user(
    engine: AsyncEngine,
    name: str | None = None,
    *,
    slack: str | None = None,
    webhook: str | None = None,
    rules: dict[str, list[str]] | None = None,
) -> User:
    name = name or f"user-{uuid.uuid4().hex[:6]}"
    async with session_scope(engine) as session:
        user = await create_user(session, name, f"{name}-{uuid.uuid4().hex[:6]}@example.com")
        for kind, address in (("slack", slack), ("webhook", webhook)):
            if address is not None:
                session.add(
                    ContactMethod(id=new_id("cm"), user_id=user.id, type=kind, address=address)
                )
        for urgency, channels in (rules or {}).items():
            session.add(NotificationRule(user_id=user.id, urgency=urgency, channels=channels))
    return user


async def make_team(engine: AsyncEngine, users: Sequence[User]) -> str:
    async with session_scope(engine) as session:
        team, _ = await create_team(session, f"team-{uuid.uuid4().hex[:6]}", [u.id for u in users])
    return team.id


async def give_policy(
    engine: AsyncEngine,
    service_id: str,
    steps: Sequence[tuple[int, Sequence[tuple[str, str]]]],
    *,
    repeat: int = 0,
    channels: Sequence[str] | None = None,
) -> str:
    """``steps``: (delay minutes, [(target type, id), ...]) in order."""
    specs = [
        StepSpec(
            delay_minutes=delay,
            targets=tuple(Target(type=t, id=i) for t, i in targets),
            channels=None if channels is None else tuple(channels),
        )
        for delay, targets in steps
    ]
    async with session_scope(engine) as session:
        policy = await create_policy(
            session, f"pol-{uuid.uuid4().hex[:6]}", specs, repeat_count=repeat
        )
        service = await session.get(Service, service_id)
        assert service is not None
        await update_service(session, service, {"escalation_policy_id": policy.id})
    return policy.id


async def set_service(engine: AsyncEngine, service_id: str, **fields: object) -> None:
    """Columns the API may not expose yet (slack_channel, webhook_url, team_id)."""
    async with session_scope(engine) as session:
        service = await session.get(Service, service_id)
        assert service is not None
        for name, value in fields.items():
            setattr(service, name, value)
        session.add(service)
