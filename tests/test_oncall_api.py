"""``GET /api/oncall?serviceId=``: who an incident on the service would page first right now,
and what brought each person."""

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import Tenant, make_api_key, make_tenant
from tests.paging_helpers import give_policy, make_team, make_user, set_service
from tests.schedule_rows import add_override, layer, make_schedule


async def reader(engine: AsyncEngine, service_ids: list[str] | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {await make_api_key(engine, ['services:read'], service_ids)}"}


async def test_first_step_targets_expanded_with_what_brought_each(
    http: httpx.AsyncClient, engine: AsyncEngine, tenant: Tenant
) -> None:
    ann, bob, cid, dan = [await make_user(engine, f"{n}{uuid.uuid4().hex[:4]}") for n in "abcd"]
    now = datetime.now(UTC)
    primary = await make_schedule(engine, [layer([ann.id], now - timedelta(days=3), days=1)])
    # Bob covers for Ann right now on the secondary.
    secondary = await make_schedule(engine, [layer([ann.id], now - timedelta(days=3), days=1)])
    await add_override(
        engine, secondary.id, bob.id, now - timedelta(hours=1), now + timedelta(hours=1)
    )
    later = await make_schedule(engine, [layer([dan.id], now + timedelta(days=3), days=1)])
    team = await make_team(engine, [cid])
    policy = await give_policy(
        engine,
        tenant.service_id,
        [
            (5, [("schedule", primary.id), ("schedule", secondary.id), ("team", team),
                 ("user", ann.id), ("schedule", later.id)]),
            (5, [("user", dan.id)]),
        ],
    )  # fmt: skip
    response = await http.get(
        "/api/oncall", params={"serviceId": tenant.service_id}, headers=await reader(engine)
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["serviceId"], body["source"], body["escalationPolicyId"]) == (
        tenant.service_id,
        "policy",
        policy,
    )
    assert abs(datetime.fromisoformat(body["at"]) - now) < timedelta(minutes=1)
    people = {u["id"]: u for u in body["users"]}
    assert [u["id"] for u in body["users"]] == [ann.id, bob.id, cid.id]  # dan is not on call
    assert people[ann.id]["via"] == [
        {"type": "schedule", "id": primary.id, "name": primary.name},
        {"type": "user", "id": ann.id, "name": None},
    ]
    assert people[bob.id]["via"] == [
        {"type": "schedule", "id": secondary.id, "name": secondary.name}
    ]
    assert people[cid.id]["via"][0]["type"] == "team"
    assert (people[cid.id]["name"], people[cid.id]["email"]) == (cid.name, cid.email)
    assert body["schedules"] == [
        {"id": primary.id, "name": primary.name, "userIds": [ann.id]},
        {"id": secondary.id, "name": secondary.name, "userIds": [bob.id]},
        {"id": later.id, "name": later.name, "userIds": []},
    ]


async def test_without_a_policy_the_team_then_nobody(
    http: httpx.AsyncClient, engine: AsyncEngine, tenant: Tenant
) -> None:
    headers = await reader(engine)
    params = {"serviceId": tenant.service_id}
    body = (await http.get("/api/oncall", params=params, headers=headers)).json()
    assert (body["source"], body["users"], body["schedules"]) == ("none", [], [])

    ann = await make_user(engine)
    team = await make_team(engine, [ann])
    await set_service(engine, tenant.service_id, team_id=team)
    body = (await http.get("/api/oncall", params=params, headers=headers)).json()
    assert body["source"] == "team" and body["escalationPolicyId"] is None
    assert [(u["id"], u["via"][0]["id"]) for u in body["users"]] == [(ann.id, team)]


async def test_refusals(http: httpx.AsyncClient, engine: AsyncEngine, tenant: Tenant) -> None:
    headers = await reader(engine)
    missing = await http.get("/api/oncall", headers=headers)
    assert missing.status_code == 400
    assert (missing.json()["error"]["code"], missing.json()["error"]["field"]) == (
        "INVALID_REQUEST",
        "serviceId",
    )
    unknown = await http.get("/api/oncall", params={"serviceId": "svc_nope"}, headers=headers)
    assert unknown.status_code == 404
    other = await make_tenant(engine)
    restricted = await reader(engine, [other.service_id])
    denied = await http.get(
        "/api/oncall", params={"serviceId": tenant.service_id}, headers=restricted
    )
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "SERVICE_ACCESS_DENIED"
    allowed = await http.get(
        "/api/oncall", params={"serviceId": other.service_id}, headers=restricted
    )
    assert allowed.status_code == 200
    no_scope = await http.get(
        "/api/oncall", params={"serviceId": tenant.service_id}, headers=tenant.bearer
    )
    assert no_scope.status_code == 403
    assert no_scope.json()["error"]["code"] == "MISSING_SCOPE"
