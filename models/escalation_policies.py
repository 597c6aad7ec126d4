"""Creating, changing and deleting escalation policies: shared by the API (and any future
CLI). Functions flush but never commit; they raise ``models.errors`` naming the field."""

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.audit import record, snapshot
from models.columns import utcnow
from models.errors import InUse, UnknownReference
from models.escalation import (
    EscalationPolicy,
    EscalationStep,
    StepSpec,
    check_repeat_count,
    check_steps,
    step_rows,
    step_spec,
)
from models.schedules import Schedule
from models.service import Service
from models.uniqueness import flush_unique, require_free
from models.user import Team, User
from tocsin.keys import new_id


async def create_policy(
    session: AsyncSession,
    name: str,
    steps: Sequence[StepSpec],
    *,
    description: str | None = None,
    repeat_count: int = 0,
) -> EscalationPolicy:
    check_repeat_count(repeat_count)
    check_steps(steps)
    await _require_targets(session, steps)
    await require_free(session, EscalationPolicy.name, name, "name", _taken(name))
    now = utcnow()
    policy = EscalationPolicy(
        id=new_id("pol"),
        name=name,
        description=description,
        repeat_count=repeat_count,
        created_at=now,
        updated_at=now,
    )
    session.add(policy)
    await flush_unique(session, "name", _taken(name))
    session.add_all(step_rows(policy.id, steps))
    await session.flush()
    record(session, "create", policy, after=snapshot(policy, steps=list(steps)))
    return policy


async def update_policy(
    session: AsyncSession, policy: EscalationPolicy, changes: dict[str, Any]
) -> EscalationPolicy:
    """``changes`` maps name, description, repeat_count, steps (a list of StepSpec, which
    replaces every step) to new values."""
    before = await _policy_snapshot(session, policy)
    if "repeat_count" in changes:
        policy.repeat_count = check_repeat_count(changes["repeat_count"])
    if "steps" in changes:
        check_steps(changes["steps"])
        await _require_targets(session, changes["steps"])
    name = changes.get("name")
    if name is not None and name != policy.name:
        # Check before assigning: the query would autoflush the change first.
        await require_free(session, EscalationPolicy.name, name, "name", _taken(name))
        policy.name = name
    if "description" in changes:
        policy.description = changes["description"]
    policy.updated_at = utcnow()
    session.add(policy)
    await flush_unique(session, "name", _taken(policy.name))
    if "steps" in changes:
        await session.exec(delete(EscalationStep).where(col(EscalationStep.policy_id) == policy.id))
        session.add_all(step_rows(policy.id, changes["steps"]))
        await session.flush()
    steps = changes["steps"] if "steps" in changes else before["steps"]
    record(session, "update", policy, before=before, after=snapshot(policy, steps=steps))
    return policy


async def _policy_snapshot(session: AsyncSession, policy: EscalationPolicy) -> dict[str, Any]:
    steps = (await policy_steps(session, [policy.id]))[policy.id]
    return snapshot(policy, steps=[step_spec(s) for s in steps]) or {}


async def delete_policy(session: AsyncSession, policy: EscalationPolicy) -> None:
    """Refused (InUse) while a live service uses the policy. Deleted services let go of it:
    they can never page anyone again."""
    users = await policy_service_ids(session, [policy.id])
    if users[policy.id]:
        raise _in_use(users[policy.id])
    before = await _policy_snapshot(session, policy)
    await session.exec(
        update(Service)
        .where(col(Service.escalation_policy_id) == policy.id)
        .values(escalation_policy_id=None)
        .execution_options(synchronize_session=False)
    )
    await session.delete(policy)
    try:
        await session.flush()
    except IntegrityError as err:  # a service took the policy on concurrently
        raise _in_use([]) from err
    record(session, "delete", policy, before=before)


def _in_use(service_ids: list[str]) -> InUse:
    listed = f": {', '.join(service_ids)}" if service_ids else ""
    return InUse(f"escalation policy is used by services{listed}", service_ids)


async def list_policies(session: AsyncSession) -> Sequence[EscalationPolicy]:
    rows = await session.exec(
        select(EscalationPolicy).order_by(
            col(EscalationPolicy.created_at), col(EscalationPolicy.id)
        )
    )
    return rows.all()


async def policy_steps(
    session: AsyncSession, policy_ids: Iterable[str]
) -> dict[str, list[EscalationStep]]:
    """Each policy's steps in order."""
    by_policy: dict[str, list[EscalationStep]] = {p: [] for p in policy_ids}
    if by_policy:
        rows = await session.exec(
            select(EscalationStep)
            .where(col(EscalationStep.policy_id).in_(by_policy))
            .order_by(col(EscalationStep.policy_id), col(EscalationStep.position))
        )
        for step in rows.all():
            by_policy[step.policy_id].append(step)
    return by_policy


async def policy_service_ids(
    session: AsyncSession, policy_ids: Iterable[str]
) -> dict[str, list[str]]:
    """The live services using each policy, sorted."""
    by_policy: dict[str, list[str]] = {p: [] for p in policy_ids}
    if by_policy:
        rows = await session.exec(
            select(Service.id, Service.escalation_policy_id)
            .where(
                col(Service.escalation_policy_id).in_(by_policy),
                col(Service.deleted_at).is_(None),
            )
            .order_by(col(Service.id))
        )
        for service_id, policy_id in rows.all():
            if policy_id is not None:
                by_policy[policy_id].append(service_id)
    return by_policy


async def require_policy(
    session: AsyncSession, policy_id: str, field: str = "escalation_policy_id"
) -> None:
    if await session.get(EscalationPolicy, policy_id) is None:
        raise UnknownReference(field, f"unknown escalation policy {policy_id}")


async def _require_targets(session: AsyncSession, steps: Sequence[StepSpec]) -> None:
    """Every user, team and schedule target exists; the first missing one is named by its
    field."""
    wanted = {(t.type, t.id) for step in steps for t in step.targets}
    found: set[tuple[str, str]] = set()
    for kind, table in (("user", User), ("team", Team), ("schedule", Schedule)):
        ids = {i for k, i in wanted if k == kind}
        if ids:
            rows = await session.exec(select(table.id).where(col(table.id).in_(ids)))
            found |= {(kind, i) for i in rows.all()}
    for i, step in enumerate(steps):
        for j, target in enumerate(step.targets):
            if (target.type, target.id) not in found:
                raise UnknownReference(
                    f"steps.{i}.targets.{j}.id", f"unknown {target.type} {target.id}"
                )


def _taken(name: str) -> str:
    return f"an escalation policy named {name!r} exists"
