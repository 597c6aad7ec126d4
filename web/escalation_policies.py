"""``/api/escalation-policies``: who is paged for a service's incidents, in what order
(scope services:read; services:write for changes).

The incident workflow runs the policy (workflows/notifier.py); a change applies to open
incidents from their next step. A policy may be shared by many services, so changing one
needs a key not limited to services.
"""

from collections.abc import Sequence
from typing import Any

from quart import Blueprint
from quart_schema import document_request, document_response, tag
from sqlmodel.ext.asyncio.session import AsyncSession

from models.db import session_scope
from models.errors import InUse
from models.escalation import EscalationPolicy, EscalationStep, StepSpec, Target
from models.escalation_policies import (
    create_policy,
    delete_policy,
    list_policies,
    policy_service_ids,
    policy_steps,
    update_policy,
)
from web.auth import Principal
from web.bodies import parse_body
from web.errors import ApiError, error_responses
from web.management import (
    api_principal,
    not_found,
    refusals_as_api_errors,
    unrestricted_principal,
)
from web.management_schemas import (
    Deleted,
    EscalationPolicyCreate,
    EscalationPolicyList,
    EscalationPolicyOut,
    EscalationPolicyPatch,
    EscalationStepIn,
    EscalationStepOut,
    EscalationTarget,
)
from web.runtime import runtime

blueprint = Blueprint("escalation_policies", __name__)


@blueprint.get("/api/escalation-policies")
@tag(["escalation policies"])
@document_response(EscalationPolicyList, 200)
@error_responses(401, 403)
async def list_route() -> dict[str, Any]:
    """Every escalation policy, oldest first (scope services:read)."""
    principal = await api_principal("services:read")
    async with session_scope(runtime().engine) as session:
        policies = await list_policies(session)
        out = await _policies_out(session, principal, policies)
    return {"escalationPolicies": out}


@blueprint.post("/api/escalation-policies")
@tag(["escalation policies"])
@document_request(EscalationPolicyCreate)
@document_response(EscalationPolicyOut, 201)
@error_responses(400, 401, 403, 409)
async def post_route() -> tuple[dict[str, Any], int]:
    """Create a policy (scope services:write). 409 CONFLICT if the name is taken; an
    unknown user or team is a 400 naming e.g. ``steps.0.targets.1.id``."""
    principal = await unrestricted_principal("services:write")
    body = await parse_body(EscalationPolicyCreate)
    with refusals_as_api_errors():
        async with session_scope(runtime().engine) as session:
            policy = await create_policy(
                session,
                body.name,
                step_specs(body.steps),
                description=body.description,
                repeat_count=body.repeat_count,
            )
            [out] = await _policies_out(session, principal, [policy])
    return out, 201


@blueprint.get("/api/escalation-policies/<policy_id>")
@tag(["escalation policies"])
@document_response(EscalationPolicyOut, 200)
@error_responses(401, 403, 404)
async def get_route(policy_id: str) -> dict[str, Any]:
    """One policy (scope services:read)."""
    principal = await api_principal("services:read")
    async with session_scope(runtime().engine) as session:
        [out] = await _policies_out(session, principal, [await _get_policy(session, policy_id)])
    return out


@blueprint.patch("/api/escalation-policies/<policy_id>")
@tag(["escalation policies"])
@document_request(EscalationPolicyPatch)
@document_response(EscalationPolicyOut, 200)
@error_responses(400, 401, 403, 404, 409)
async def patch_route(policy_id: str) -> dict[str, Any]:
    """Change a policy; ``steps``, when given, replaces every step; ``null`` clears only
    ``description`` (scope services:write)."""
    principal = await unrestricted_principal("services:write")
    body = await parse_body(EscalationPolicyPatch)
    changes = body.model_dump(exclude_unset=True, exclude={"steps"})
    if body.steps is not None:
        changes["steps"] = step_specs(body.steps)
    with refusals_as_api_errors():
        async with session_scope(runtime().engine) as session:
            policy = await _get_policy(session, policy_id)
            await update_policy(session, policy, changes)
            [out] = await _policies_out(session, principal, [policy])
    return out


@blueprint.delete("/api/escalation-policies/<policy_id>")
@tag(["escalation policies"])
@document_response(Deleted, 200)
@error_responses(401, 403, 404, 409)
async def delete_route(policy_id: str) -> dict[str, Any]:
    """Delete a policy and its steps (scope services:write). 409 POLICY_IN_USE while a
    service uses it: give those services another policy (or none) first."""
    await unrestricted_principal("services:write")
    try:
        async with session_scope(runtime().engine) as session:
            await delete_policy(session, await _get_policy(session, policy_id))
    except InUse as err:
        raise ApiError(409, "POLICY_IN_USE", str(err)) from err
    return Deleted(id=policy_id).model_dump(mode="json", by_alias=True)


async def _get_policy(session: AsyncSession, policy_id: str) -> EscalationPolicy:
    policy = await session.get(EscalationPolicy, policy_id)
    if policy is None:
        raise not_found("Escalation policy")
    return policy


def step_specs(steps: Sequence[EscalationStepIn]) -> list[StepSpec]:
    return [
        StepSpec(
            delay_minutes=step.delay_minutes,
            targets=tuple(Target(type=t.type, id=t.id) for t in step.targets),
            channels=None if step.channels is None else tuple(step.channels),
        )
        for step in steps
    ]


async def _policies_out(
    session: AsyncSession, principal: Principal, policies: Sequence[EscalationPolicy]
) -> list[dict[str, Any]]:
    """The policies as answered; ``serviceIds`` lists only services the key can reach."""
    ids = [p.id for p in policies]
    steps = await policy_steps(session, ids)
    services = await policy_service_ids(session, ids)
    return [
        EscalationPolicyOut(
            id=p.id,
            name=p.name,
            description=p.description,
            repeat_count=p.repeat_count,
            steps=[_step_out(s) for s in steps[p.id]],
            service_ids=[s for s in services[p.id] if principal.can_access(s)],
            created_at=p.created_at,
            updated_at=p.updated_at,
        ).model_dump(mode="json", by_alias=True)
        for p in policies
    ]


def _step_out(step: EscalationStep) -> EscalationStepOut:
    return EscalationStepOut(
        delay_minutes=step.delay_minutes,
        targets=[EscalationTarget.model_validate(t) for t in step.targets],
        channels=step.channels,
    )
