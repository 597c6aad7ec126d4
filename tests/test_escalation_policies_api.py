"""/api/escalation-policies: CRUD, step and target validation naming the field, bounds,
POLICY_IN_USE, and services refusing unknown policies."""

import uuid
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from models.errors import InvalidValue
from models.escalation import StepSpec, Target, check_steps
from tests.conftest import make_api_key

URL = "/api/escalation-policies"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def admin(engine: AsyncEngine) -> dict[str, str]:
    return bearer(await make_api_key(engine, ["admin"]))


async def created(http: httpx.AsyncClient, admin: dict[str, str], url: str, body: dict) -> Any:
    response = await http.post(url, json=body, headers=admin)
    assert response.status_code == 201, response.text
    return response.json()


async def new_user(http: httpx.AsyncClient, admin: dict[str, str]) -> str:
    body = {"name": "Ada", "email": f"{unique('ada')}@example.com"}
    return str((await created(http, admin, "/api/users", body))["id"])


async def new_team(http: httpx.AsyncClient, admin: dict[str, str]) -> str:
    return str((await created(http, admin, "/api/teams", {"name": unique("team")}))["id"])


def step(*targets: tuple[str, str], delay: int = 5, channels: Any = None) -> dict:
    return {
        "delayMinutes": delay,
        "targets": [{"type": kind, "id": i} for kind, i in targets],
        "channels": channels,
    }


async def test_policy_crud_round_trip(http: httpx.AsyncClient, admin: dict[str, str]) -> None:
    user, team = await new_user(http, admin), await new_team(http, admin)
    steps = [step(("user", user), delay=10, channels=["slack", "email"]), step(("team", team))]
    name = unique("pol")
    policy = await created(
        http, admin, URL, {"name": name, "description": "db", "repeatCount": 2, "steps": steps}
    )
    assert policy["id"].startswith("pol_")
    assert policy | {"name": name, "description": "db", "repeatCount": 2} == policy
    assert policy["steps"] == steps and policy["serviceIds"] == []
    assert policy["createdAt"] == policy["updatedAt"]
    url = f"{URL}/{policy['id']}"
    assert (await http.get(url, headers=admin)).json() == policy
    listing = (await http.get(URL, headers=admin)).json()["escalationPolicies"]
    assert policy in listing

    taken = await http.post(URL, json={"name": name, "steps": steps}, headers=admin)
    assert taken.status_code == 409 and taken.json()["error"]["field"] == "name"

    renamed = await http.patch(
        url, json={"name": unique("pol"), "description": None}, headers=admin
    )
    assert renamed.status_code == 200, renamed.text
    body = renamed.json()
    assert body["description"] is None and body["steps"] == steps and body["repeatCount"] == 2
    assert datetime.fromisoformat(body["updatedAt"]) > datetime.fromisoformat(policy["updatedAt"])

    replaced = await http.patch(url, json={"steps": [step(("team", team), delay=0)]}, headers=admin)
    assert replaced.json()["steps"] == [step(("team", team), delay=0)]

    service = await created(
        http, admin, "/api/services", {"name": unique("svc"), "escalationPolicyId": policy["id"]}
    )
    assert (await http.get(url, headers=admin)).json()["serviceIds"] == [service["id"]]

    in_use = await http.delete(url, headers=admin)
    assert in_use.status_code == 409
    assert in_use.json()["error"]["code"] == "POLICY_IN_USE"
    assert service["id"] in in_use.json()["error"]["message"]

    detached = await http.patch(
        f"/api/services/{service['id']}", json={"escalationPolicyId": None}, headers=admin
    )
    assert detached.status_code == 200 and detached.json()["escalationPolicyId"] is None
    deleted = await http.delete(url, headers=admin)
    assert deleted.status_code == 200 and deleted.json() == {"id": policy["id"], "deleted": True}
    for method in ("GET", "PATCH", "DELETE"):
        gone = await http.request(method, url, json={}, headers=admin)
        assert gone.status_code == 404 and gone.json()["error"]["code"] == "NOT_FOUND"
    reattach = await http.patch(
        f"/api/services/{service['id']}", json={"escalationPolicyId": policy["id"]}, headers=admin
    )
    assert reattach.status_code == 400
    assert reattach.json()["error"]["field"] == "escalationPolicyId"


async def test_deleted_service_does_not_hold_its_policy(
    http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    team = await new_team(http, admin)
    policy = await created(
        http, admin, URL, {"name": unique("pol"), "steps": [step(("team", team))]}
    )
    service = await created(
        http, admin, "/api/services", {"name": unique("svc"), "escalationPolicyId": policy["id"]}
    )
    assert (await http.delete(f"/api/services/{service['id']}", headers=admin)).status_code == 200
    url = f"{URL}/{policy['id']}"
    assert (await http.get(url, headers=admin)).json()["serviceIds"] == []
    assert (await http.delete(url, headers=admin)).status_code == 200


@pytest.mark.parametrize(
    ("steps", "field"),
    [
        ([], "steps"),
        ([step(("team", "TEAM"))] * 21, "steps"),
        ([step()], "steps.0.targets"),
        ([step(*[("user", f"usr_{i}") for i in range(11)])], "steps.0.targets"),
        ([step(("team", "TEAM")), step(("team", "TEAM"), ("user", "usr_nope"))],
         "steps.1.targets.1.id"),
        ([step(("team", "team_nope"))], "steps.0.targets.0.id"),
        ([step(("schedule", "sch_nope"))], "steps.0.targets.0.id"),
        ([step(("group", "TEAM"))], "steps.0.targets.0.type"),
        ([step(("team", "TEAM"), ("team", "TEAM"))], "steps.0.targets.1"),
        ([step(("team", "TEAM"), delay=-1)], "steps.0.delayMinutes"),
        ([step(("team", "TEAM"), delay=1441)], "steps.0.delayMinutes"),
        ([step(("team", "TEAM"), delay="5")], "steps.0.delayMinutes"),  # type: ignore[arg-type]
        ([step(("team", "TEAM"), channels=[])], "steps.0.channels"),
        ([step(("team", "TEAM"), channels=["sms"])], "steps.0.channels.0"),
        ([step(("team", "TEAM"), channels=["slack", "slack"])], "steps.0.channels"),
        ([step(("team", "TEAM")) | {"delay": 3}], "steps.0.delay"),
    ],
)  # fmt: skip
async def test_step_validation_names_the_field(
    http: httpx.AsyncClient, admin: dict[str, str], steps: list[dict], field: str
) -> None:
    team = await new_team(http, admin)
    for s in steps:
        for target in s["targets"]:
            target["id"] = team if target["id"] == "TEAM" else target["id"]
    response = await http.post(URL, json={"name": unique("pol"), "steps": steps}, headers=admin)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("INVALID_REQUEST", field)
    if steps and steps[0]["targets"] and steps[0]["targets"][0]["type"] == "schedule":
        assert "unknown schedule sch_nope" in error["message"]


@pytest.mark.parametrize(
    ("repeat", "status"), [(0, 201), (9, 201), (10, 400), (-1, 400), (True, 400), (None, 400)]
)
async def test_repeat_count_bounds(
    http: httpx.AsyncClient, admin: dict[str, str], repeat: Any, status: int
) -> None:
    team = await new_team(http, admin)
    body = {"name": unique("pol"), "repeatCount": repeat, "steps": [step(("team", team))]}
    response = await http.post(URL, json=body, headers=admin)
    assert response.status_code == status, response.text
    if status == 400:
        assert response.json()["error"]["field"] == "repeatCount"


async def test_delay_bounds_are_inclusive(http: httpx.AsyncClient, admin: dict[str, str]) -> None:
    team = await new_team(http, admin)
    steps = [step(("team", team), delay=0), step(("team", team), delay=1440)]
    policy = await created(http, admin, URL, {"name": unique("pol"), "steps": steps})
    bad = await http.patch(
        f"{URL}/{policy['id']}", json={"steps": [step(("team", team), delay=1441)]}, headers=admin
    )
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "steps.0.delayMinutes"
    for nulled in ("name", "repeatCount", "steps"):
        refused = await http.patch(f"{URL}/{policy['id']}", json={nulled: None}, headers=admin)
        assert refused.status_code == 400 and refused.json()["error"]["field"] == nulled
    unchanged = (await http.get(f"{URL}/{policy['id']}", headers=admin)).json()
    assert unchanged["steps"] == steps


async def test_scopes(http: httpx.AsyncClient, engine: AsyncEngine, admin: dict[str, str]) -> None:
    team = await new_team(http, admin)
    policy = await created(
        http, admin, URL, {"name": unique("pol"), "steps": [step(("team", team))]}
    )
    reader = bearer(await make_api_key(engine, ["services:read"]))
    assert (await http.get(f"{URL}/{policy['id']}", headers=reader)).status_code == 200
    body = {"name": unique("pol"), "steps": [step(("team", team))]}
    denied = await http.post(URL, json=body, headers=reader)
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "MISSING_SCOPE"

    service = await created(http, admin, "/api/services", {"name": unique("svc")})
    restricted = bearer(
        await make_api_key(engine, ["services:read", "services:write"], [service["id"]])
    )
    refused = await http.post(URL, json=body, headers=restricted)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "RESTRICTED_KEY"
    # A restricted key may still choose a policy for its own service.
    attached = await http.patch(
        f"/api/services/{service['id']}", json={"escalationPolicyId": policy["id"]},
        headers=restricted,
    )  # fmt: skip
    assert attached.status_code == 200
    other = await created(
        http, admin, "/api/services", {"name": unique("svc"), "escalationPolicyId": policy["id"]}
    )
    seen = (await http.get(f"{URL}/{policy['id']}", headers=restricted)).json()["serviceIds"]
    assert seen == [service["id"]]
    everyone = (await http.get(f"{URL}/{policy['id']}", headers=admin)).json()["serviceIds"]
    assert sorted(everyone) == sorted([service["id"], other["id"]])
    assert (await http.get(URL)).status_code == 401


def test_check_steps_is_pure() -> None:
    ok = StepSpec(delay_minutes=0, targets=(Target("user", "usr_1"),), channels=("webhook",))
    check_steps([ok])
    with pytest.raises(InvalidValue) as err:
        check_steps([ok, StepSpec(delay_minutes=1, targets=(Target("group", "s"),))])
    assert err.value.field == "steps.1.targets.0.type"
