"""The policy lookup every new incident's first workflow task makes (one SQL statement)."""

from sqlalchemy.ext.asyncio import AsyncEngine

from activities.escalation import EscalationActivities
from models.catalog import soft_delete_service
from models.db import session_scope
from models.service import Service
from tests.conftest import Tenant
from tests.paging_helpers import give_policy, make_team, make_user, set_service
from workflows.escalation import Policy, PolicyLookup, PolicyStep, Target
from workflows.notifications import ServiceChannels


async def test_policy_steps_in_order_with_the_service_channels(
    engine: AsyncEngine, tenant: Tenant
) -> None:
    first, second = await make_user(engine), await make_user(engine)
    team = await make_team(engine, [second])
    policy_id = await give_policy(
        engine,
        tenant.service_id,
        [(5, [("user", first.id)]), (0, [("team", team), ("user", second.id)])],
        repeat=2,
        channels=["slack"],
    )
    await set_service(
        engine, tenant.service_id, slack_channel="#ops", webhook_url="https://hooks.example/x"
    )

    found = await EscalationActivities(engine).load_policy(tenant.service_id)

    assert found == PolicyLookup(
        source="policy",
        policy=Policy(
            id=policy_id,
            steps=[
                PolicyStep(
                    delay_minutes=5, targets=[Target(type="user", id=first.id)], channels=["slack"]
                ),
                PolicyStep(
                    delay_minutes=0,
                    targets=[Target(type="team", id=team), Target(type="user", id=second.id)],
                    channels=["slack"],
                ),
            ],
            repeat_count=2,
        ),
        service_name=tenant.service_name,
        channels=ServiceChannels(
            service_name=tenant.service_name,
            slack_channel="#ops",
            webhook_url="https://hooks.example/x",
        ),
    )


async def test_without_a_policy_the_team_once(engine: AsyncEngine, tenant: Tenant) -> None:
    team = await make_team(engine, [await make_user(engine)])
    await set_service(engine, tenant.service_id, team_id=team)

    found = await EscalationActivities(engine).load_policy(tenant.service_id)

    assert found.source == "team"
    once = PolicyStep(delay_minutes=0, targets=[Target(type="team", id=team)])
    assert found.policy == Policy(id=f"team:{team}", steps=[once])
    assert found.channels == ServiceChannels(service_name=tenant.service_name)


async def test_nobody_without_policy_or_team(engine: AsyncEngine, tenant: Tenant) -> None:
    found = await EscalationActivities(engine).load_policy(tenant.service_id)

    assert found == PolicyLookup(
        source="none",
        service_name=tenant.service_name,
        channels=ServiceChannels(service_name=tenant.service_name),
    )


async def test_deleted_or_unknown_service_pages_nobody(engine: AsyncEngine, tenant: Tenant) -> None:
    await give_policy(engine, tenant.service_id, [(0, [("user", (await make_user(engine)).id)])])
    async with session_scope(engine) as session:
        service = await session.get(Service, tenant.service_id)
        assert service is not None
        await soft_delete_service(session, service)
    lookups = EscalationActivities(engine)

    gone = PolicyLookup(source="none", channels=ServiceChannels())
    assert await lookups.load_policy(tenant.service_id) == gone
    assert await lookups.load_policy("svc_unknown") == gone
