"""/api/schedules: CRUD, validation naming the field, overrides' checks, window limits,
404s, scopes, SCHEDULE_IN_USE and paging."""

import copy
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from models.db import session_scope
from models.escalation import EscalationPolicy, EscalationStep
from models.schedules import CalendarFeed, ScheduleOverride
from tests.conftest import make_api_key, make_tenant
from tests.schedule_helpers import (
    URL,
    bearer,
    created,
    layer,
    new_schedule,
    new_user,
    unique,
)
from tocsin.keys import new_id
from workflows.handoffs import handoffs_workflow_id


@pytest.fixture
async def admin(engine: AsyncEngine) -> dict[str, str]:
    return bearer(await make_api_key(engine, ["admin"]))


async def test_schedule_crud_round_trip(http: httpx.AsyncClient, admin: dict[str, str]) -> None:
    ada, bob = await new_user(http, admin, "Ada"), await new_user(http, admin, "Bob")
    team = (await created(http, admin, "/api/teams", {"name": unique("team")}))["id"]
    weekly = {"kind": "weekly", "handoffWeekday": 0, "handoffTime": "09:00"}
    layers = [
        layer([ada, bob], shift=weekly, name="primary"),
        layer(
            [bob],
            start="2026-03-02T00:00",
            end="2026-06-01T00:00",
            restrictions=[{"days": [5, 6], "start": "10:00", "end": "18:00"}],
        ),
    ]
    name = unique("sched")
    body = {
        "name": name,
        "description": "payments",
        "timeZone": "Europe/Berlin",
        "layers": layers,
        "teamId": team,
        "handoffNotifications": True,
    }
    schedule = await created(http, admin, URL, body)
    assert schedule["id"].startswith("sch_")
    assert schedule | {k: v for k, v in body.items() if k != "layers"} == schedule
    assert schedule["layers"][0] == {
        "start": "2026-03-02T09:00:00",
        "end": None,
        "users": [ada, bob],
        "shift": weekly,
        "restrictions": None,
        "name": "primary",
    }
    assert schedule["layers"][1]["restrictions"] == layers[1]["restrictions"]
    assert schedule["layers"][1]["name"] is None
    assert schedule["createdAt"] == schedule["updatedAt"]

    url = f"{URL}/{schedule['id']}"
    assert (await http.get(url, headers=admin)).json() == schedule

    taken = await http.post(URL, json=body, headers=admin)
    assert taken.status_code == 409 and taken.json()["error"]["field"] == "name"

    new_layers = [layer([bob, ada], start="2026-04-01T08:00", shift={"kind": "hours", "hours": 12})]
    patched = await http.patch(
        url,
        json={"name": unique("sched"), "description": None, "teamId": None, "layers": new_layers},
        headers=admin,
    )
    assert patched.status_code == 200, patched.text
    after = patched.json()
    assert after["description"] is None and after["teamId"] is None
    assert [(lay["users"], lay["shift"]) for lay in after["layers"]] == [
        ([bob, ada], {"kind": "hours", "hours": 12})
    ]
    assert after["timeZone"] == "Europe/Berlin" and after["handoffNotifications"] is True
    assert datetime.fromisoformat(after["updatedAt"]) > datetime.fromisoformat(
        schedule["updatedAt"]
    )
    zone_only = await http.patch(url, json={"timeZone": "America/New_York"}, headers=admin)
    assert zone_only.json()["timeZone"] == "America/New_York"
    assert zone_only.json()["layers"] == after["layers"]
    for field in ("name", "timeZone", "layers", "handoffNotifications"):
        refused = await http.patch(url, json={field: None}, headers=admin)
        assert refused.status_code == 400 and refused.json()["error"]["field"] == field

    deleted = await http.delete(url, headers=admin)
    assert deleted.status_code == 200 and deleted.json() == {"id": schedule["id"], "deleted": True}
    assert (await http.get(url, headers=admin)).status_code == 404


async def test_delete_takes_overrides_and_feeds_along(
    http: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    ada = await new_user(http, admin)
    schedule = await new_schedule(http, admin, [layer([ada])])
    url = f"{URL}/{schedule['id']}"
    override = {"userId": ada, "start": "2026-03-10T00:00:00Z", "end": "2026-03-11T00:00:00Z"}
    await created(http, admin, f"{url}/overrides", override)
    await created(http, admin, f"{url}/calendar-feeds", {})
    assert (await http.delete(url, headers=admin)).status_code == 200
    async with session_scope(engine) as session:
        for table in (ScheduleOverride, CalendarFeed):
            rows = await session.exec(select(table).where(table.schedule_id == schedule["id"]))
            assert rows.all() == []


def _broken(base: dict[str, Any], path: list[Any], value: Any) -> dict[str, Any]:
    body = copy.deepcopy(base)
    target = body
    for part in path[:-1]:
        target = target[part]
    if value is _DROP:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return body


_DROP = object()
GOOD: dict[str, Any] = {
    "name": "x",
    "timeZone": "Europe/Berlin",
    "layers": [
        {
            "start": "2026-03-02T09:00",
            "users": ["USER"],
            "shift": {"kind": "weekly", "handoffWeekday": 0, "handoffTime": "09:00"},
        }
    ],
}


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (["timeZone"], "Mars/Olympus_Mons", "timeZone"),
        (["timeZone"], "Europe", "timeZone"),
        (["layers", 0, "end"], "2026-03-01T09:00", "layers.0.end"),
        (["layers", 0, "users"], [], "layers.0.users"),
        (["layers", 0, "shift"], {"kind": "hours", "hours": 0}, "layers.0.shift.hours.hours"),
        (["layers", 0, "shift"], {"kind": "days", "days": 0}, "layers.0.shift.days.days"),
        (["layers", 0, "shift", "handoffWeekday"], _DROP, "layers.0.shift.weekly.handoffWeekday"),
        (["layers", 0, "shift", "handoffTime"], "25:00", "layers.0.shift.weekly.handoffTime"),
        (["layers", 0, "users"], ["USER", "usr_nobody"], "layers.0.users.1"),
        (["layers", 0, "start"], "2026-03-02T09:00+01:00", "layers.0.start"),
        (
            ["layers", 0, "restrictions"],
            [{"start": "09:00", "end": "09:00"}],
            "layers.0.restrictions.0.end",
        ),
        (["layers", 0, "colour"], "red", "layers.0.colour"),
        (["teamId"], "team_nobody", "teamId"),
        (["name"], "", "name"),
    ],
)
async def test_bad_schedules_are_refused_naming_the_field(
    http: httpx.AsyncClient,
    admin: dict[str, str],
    path: list[Any],
    value: Any,
    field: str,
) -> None:
    ada = await new_user(http, admin)
    good = copy.deepcopy(GOOD)
    good["layers"][0]["users"] = [ada]
    good["name"] = unique("bad")
    body = _broken(good, path, value)
    body = _replace_user(body, ada)
    response = await http.post(URL, json=body, headers=admin)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "INVALID_REQUEST"
    assert error["field"] == field, error
    assert error["message"].startswith("Invalid request body: " + error["field"])
    listing = (await http.get(URL, params={"limit": 500}, headers=admin)).json()["schedules"]
    assert good["name"] not in {s["name"] for s in listing}

    # The same refusal on PATCH, leaving the schedule as it was.
    schedule = await new_schedule(http, admin, good["layers"])
    patch = {k: v for k, v in body.items() if k != "name"} if path[0] != "name" else body
    changed = await http.patch(f"{URL}/{schedule['id']}", json=patch, headers=admin)
    assert changed.status_code == 400 and changed.json()["error"]["field"] == error["field"]
    assert (await http.get(f"{URL}/{schedule['id']}", headers=admin)).json() == schedule


def _replace_user(body: Any, user: str) -> Any:
    if body == "USER":
        return user
    if isinstance(body, dict):
        return {k: _replace_user(v, user) for k, v in body.items()}
    if isinstance(body, list):
        return [_replace_user(v, user) for v in body]
    return body


async def test_bad_bodies_and_unknown_ids(http: httpx.AsyncClient, admin: dict[str, str]) -> None:
    not_json = await http.post(URL, content=b"{", headers=admin)
    assert not_json.status_code == 400 and not_json.json()["error"]["code"] == "INVALID_JSON"
    too_many = {"name": unique("s"), "timeZone": "UTC", "layers": [layer(["u"])] * 21}
    response = await http.post(URL, json=too_many, headers=admin)
    assert response.status_code == 400 and response.json()["error"]["field"] == "layers"

    missing = f"{URL}/sch_nobody"
    for method, url in [
        ("GET", missing),
        ("PATCH", missing),
        ("DELETE", missing),
        ("GET", f"{missing}/overrides"),
        ("POST", f"{missing}/overrides"),
        ("DELETE", f"{missing}/overrides/ovr_nobody"),
        ("GET", f"{missing}/oncall"),
        ("GET", f"{missing}/shifts"),
        ("POST", f"{missing}/calendar-feeds"),
        ("DELETE", f"{missing}/calendar-feeds"),
    ]:
        body = {"userId": "x", "start": "2026-03-02T00:00Z", "end": "2026-03-03T00:00Z"}
        if method == "PATCH":
            body = {"description": "x"}
        response = await http.request(
            method, url, json=body if method in ("POST", "PATCH") else None, headers=admin
        )
        assert response.status_code == 404, (method, url, response.text)
        assert response.json()["error"]["code"] == "NOT_FOUND"

    ada = await new_user(http, admin)
    schedule = await new_schedule(http, admin, [layer([ada])])
    gone = await http.delete(f"{URL}/{schedule['id']}/overrides/ovr_nobody", headers=admin)
    assert gone.status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"end": "2026-03-10T00:00:00Z"}, "end"),  # end equal to start
        ({"end": "2026-03-09T00:00:00Z"}, "end"),  # end before start
        ({"start": "2026-03-10T00:00:00"}, "start"),  # no offset
        ({"userId": "usr_nobody"}, "userId"),
        ({"replacesUserId": "usr_nobody"}, "replacesUserId"),
        # Wholly before the layers start (2026-03-02 09:00 Berlin = 08:00 UTC).
        ({"start": "2026-02-01T00:00:00Z", "end": "2026-03-02T08:00:00Z"}, "end"),
        # Wholly after the last layer ends (2026-04-01 00:00 Berlin = 31 Mar 22:00 UTC).
        ({"start": "2026-03-31T22:00:00Z", "end": "2026-04-02T00:00:00Z"}, "start"),
        ({"start": "0001-01-01T00:00:00+01:00"}, "start"),
        ({"extra": 1}, "extra"),
    ],
)
async def test_bad_overrides_are_refused_naming_the_field(
    http: httpx.AsyncClient, admin: dict[str, str], change: dict, field: str
) -> None:
    ada, bob = await new_user(http, admin), await new_user(http, admin, "Bob")
    schedule = await new_schedule(
        http,
        admin,
        [layer([ada], end="2026-03-20T00:00"), layer([bob], end="2026-04-01T00:00")],
    )
    url = f"{URL}/{schedule['id']}/overrides"
    body = {"userId": bob, "start": "2026-03-10T00:00:00Z", "end": "2026-03-11T00:00:00Z"}
    response = await http.post(url, json=body | change, headers=admin)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] == field
    assert (await http.get(url, params={"from": "2000-01-01T00:00:00Z"}, headers=admin)).json() == {
        "overrides": []
    }
    # Overlapping the edges is fine.
    edge = body | {"start": "2026-03-31T21:00:00Z", "end": "2026-04-30T00:00:00Z"}
    await created(http, admin, url, edge)


async def test_override_on_a_schedule_without_layers(
    http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    ada = await new_user(http, admin)
    schedule = await new_schedule(http, admin, [])
    body = {"userId": ada, "start": "2026-03-10T00:00:00Z", "end": "2026-03-11T00:00:00Z"}
    response = await http.post(f"{URL}/{schedule['id']}/overrides", json=body, headers=admin)
    assert response.status_code == 400 and response.json()["error"]["field"] == "start"


async def test_overrides_list_and_delete(http: httpx.AsyncClient, admin: dict[str, str]) -> None:
    ada, bob = await new_user(http, admin), await new_user(http, admin, "Bob")
    schedule = await new_schedule(http, admin, [layer([ada])])
    url = f"{URL}/{schedule['id']}/overrides"
    first = await created(
        http,
        admin,
        url,
        {
            "userId": bob,
            "start": "2026-03-10T09:00:00+01:00",
            "end": "2026-03-11T09:00:00+01:00",
            "replacesUserId": ada,
        },
    )
    assert first["id"].startswith("ovr_")
    assert (
        first
        | {
            "scheduleId": schedule["id"],
            "userId": bob,
            "replacesUserId": ada,
            "start": "2026-03-10T08:00:00Z",
            "end": "2026-03-11T08:00:00Z",
        }
        == first
    )
    second = await created(
        http,
        admin,
        url,
        {"userId": ada, "start": "2026-04-01T00:00:00Z", "end": "2026-04-02T00:00:00Z"},
    )
    window = {"from": "2026-03-01T00:00:00Z", "to": "2026-03-20T00:00:00Z"}
    assert (await http.get(url, params=window, headers=admin)).json()["overrides"] == [first]
    everything = await http.get(url, params={"from": "2026-03-01T00:00:00Z"}, headers=admin)
    assert everything.json()["overrides"] == [first, second]
    # A "+" in a query string arrives as a space: still read as an offset.
    spaced = await http.get(f"{url}?from=2026-03-11T09:00:00 01:00", headers=admin)
    assert spaced.json()["overrides"] == [second]
    naive = await http.get(url, params={"from": "2026-03-01T00:00:00"}, headers=admin)
    assert naive.status_code == 400 and naive.json()["error"]["field"] == "from"

    deleted = await http.delete(f"{url}/{first['id']}", headers=admin)
    assert deleted.json() == {"id": first["id"], "deleted": True}
    everything = await http.get(url, params={"from": "2026-03-01T00:00:00Z"}, headers=admin)
    assert everything.json()["overrides"] == [second]
    other = await new_schedule(http, admin, [layer([ada])])
    wrong = await http.delete(f"{URL}/{other['id']}/overrides/{second['id']}", headers=admin)
    assert wrong.status_code == 404


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"from": "2026-03-01T00:00:00Z", "to": "2026-05-31T00:00:01Z"}, "to"),  # > 90 days
        ({"from": "2026-03-01T00:00:00Z", "to": "2026-03-01T00:00:00Z"}, "to"),
        ({"from": "2026-03-02T00:00:00Z", "to": "2026-03-01T00:00:00Z"}, "to"),
        ({"from": "2026-03-01"}, "from"),
        ({"from": "yesterday"}, "from"),
        ({"layer": "1"}, "layer"),
        ({"layer": "-1"}, "layer"),
        ({"from": "3000-01-01T00:00:00Z"}, "from"),
        ({"from": "2999-12-31T00:00:00Z"}, "to"),  # the default `to` is past 2999
    ],
)
async def test_shift_windows_are_checked(
    http: httpx.AsyncClient, admin: dict[str, str], query: dict, field: str
) -> None:
    ada = await new_user(http, admin)
    schedule = await new_schedule(http, admin, [layer([ada])])
    response = await http.get(f"{URL}/{schedule['id']}/shifts", params=query, headers=admin)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] == field
    ninety = {"from": "2026-03-01T00:00:00Z", "to": "2026-05-30T00:00:00Z"}
    ok = await http.get(f"{URL}/{schedule['id']}/shifts", params=ninety, headers=admin)
    assert ok.status_code == 200


async def test_oncall_query_is_checked(http: httpx.AsyncClient, admin: dict[str, str]) -> None:
    ada = await new_user(http, admin)
    schedule = await new_schedule(http, admin, [layer([ada])])
    for at in ("2026-03-10T00:00:00", "soon", "1800-01-01T00:00:00Z"):
        response = await http.get(
            f"{URL}/{schedule['id']}/oncall", params={"at": at}, headers=admin
        )
        assert response.status_code == 400 and response.json()["error"]["field"] == "at"


async def test_scopes(http: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine) -> None:
    ada = await new_user(http, admin)
    schedule = await new_schedule(http, admin, [layer([ada])])
    url = f"{URL}/{schedule['id']}"
    reader = bearer(await make_api_key(engine, ["services:read"]))
    for read in (URL, url, f"{url}/oncall", f"{url}/shifts", f"{url}/overrides"):
        assert (await http.get(read, headers=reader)).status_code == 200, read
    override = {"userId": ada, "start": "2026-03-10T00:00:00Z", "end": "2026-03-11T00:00:00Z"}
    writes = [
        ("POST", URL, {"name": unique("s"), "timeZone": "UTC", "layers": []}),
        ("PATCH", url, {"description": "x"}),
        ("DELETE", url, None),
        ("POST", f"{url}/overrides", override),
        ("DELETE", f"{url}/overrides/ovr_x", None),
        ("POST", f"{url}/calendar-feeds", None),
        ("DELETE", f"{url}/calendar-feeds", None),
    ]
    tenant = await make_tenant(engine)
    restricted = bearer(await make_api_key(engine, ["services:write"], [tenant.service_id]))
    for method, target, body in writes:
        response = await http.request(method, target, json=body, headers=reader)
        assert response.status_code == 403, (method, target)
        assert response.json()["error"]["code"] == "MISSING_SCOPE"
        response = await http.request(method, target, json=body, headers=restricted)
        assert response.status_code == 403 and response.json()["error"]["code"] == "RESTRICTED_KEY"
        assert (await http.request(method, target, json=body)).status_code == 401
    events_only = bearer(await make_api_key(engine, ["events:write"]))
    assert (await http.get(url, headers=events_only)).status_code == 403
    assert (await http.get(url, headers=reader)).json() == schedule


async def test_schedule_targeted_by_a_policy_cannot_be_deleted(
    http: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    ada = await new_user(http, admin)
    schedule = await new_schedule(http, admin, [layer([ada])])
    policy_id = new_id("pol")
    # Rows written directly: the policy API accepts schedule targets only once escalation
    # resolves them.
    async with session_scope(engine) as session:
        session.add(EscalationPolicy(id=policy_id, name=unique("pol")))
        await session.flush()
        session.add(
            EscalationStep(
                policy_id=policy_id,
                position=0,
                delay_minutes=5,
                targets=[{"type": "user", "id": ada}, {"type": "schedule", "id": schedule["id"]}],
            )
        )
    url = f"{URL}/{schedule['id']}"
    refused = await http.delete(url, headers=admin)
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["code"] == "SCHEDULE_IN_USE" and policy_id in error["message"]
    assert (await http.get(url, headers=admin)).status_code == 200

    other = await new_schedule(http, admin, [layer([ada])])  # not targeted: deletable
    assert (await http.delete(f"{URL}/{other['id']}", headers=admin)).status_code == 200
    async with session_scope(engine) as session:
        step = await session.get(EscalationStep, (policy_id, 0))
        assert step is not None
        step.targets = [{"type": "user", "id": ada}]
        session.add(step)
    assert (await http.delete(url, headers=admin)).status_code == 200


async def test_list_pages_oldest_first(http: httpx.AsyncClient, admin: dict[str, str]) -> None:
    ada = await new_user(http, admin)
    mine = [(await new_schedule(http, admin, [layer([ada])]))["id"] for _ in range(3)]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await http.get(URL, params=params, headers=admin)).json()
        assert len(page["schedules"]) <= 2
        seen += [s["id"] for s in page["schedules"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen))
    assert [s for s in seen if s in mine] == mine
    for bad in ("nope", "bm9wZQ", "WyJ4IiwgInkiXQ"):
        response = await http.get(URL, params={"cursor": bad}, headers=admin)
        assert response.status_code == 400 and response.json()["error"]["field"] == "cursor"
    zero = await http.get(URL, params={"limit": 0}, headers=admin)
    assert zero.status_code == 400 and zero.json()["error"]["field"] == "limit"


async def test_deleting_the_team_keeps_its_schedules(
    http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    team = await created(http, admin, "/api/teams", {"name": unique("team")})
    user = await new_user(http, admin)
    schedule = await new_schedule(http, admin, [layer([user])], teamId=team["id"])
    assert schedule["teamId"] == team["id"]
    assert (await http.delete(f"/api/teams/{team['id']}", headers=admin)).status_code == 200
    kept = await http.get(f"{URL}/{schedule['id']}", headers=admin)
    assert kept.status_code == 200 and kept.json()["teamId"] is None


async def test_only_schedules_with_handoff_notifications_get_a_handoff_workflow(
    http: httpx.AsyncClient, admin: dict[str, str], client: Client
) -> None:
    user = await new_user(http, admin)
    quiet = await new_schedule(http, admin, [layer([user])])
    loud = await new_schedule(http, admin, [layer([user])], handoffNotifications=True)
    described = await client.get_workflow_handle(handoffs_workflow_id(loud["id"])).describe()
    assert described.status == WorkflowExecutionStatus.RUNNING
    with pytest.raises(RPCError):
        await client.get_workflow_handle(handoffs_workflow_id(quiet["id"])).describe()
    # Turning them on later starts it too.
    turned_on = await http.patch(
        f"{URL}/{quiet['id']}", json={"handoffNotifications": True}, headers=admin
    )
    assert turned_on.status_code == 200
    handle = client.get_workflow_handle(handoffs_workflow_id(quiet["id"]))
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
