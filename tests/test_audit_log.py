"""/api/audit-log: one entry per configuration change with its before/after (secrets
redacted), one per incident action however often the projection runs, admins only, paged."""

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, func, select

from activities.projection import ProjectionActivities
from models import AuditEntry, TimelineEntry
from models.audit import REDACTED
from models.db import session_scope
from models.provisioning import create_api_key
from tests.conftest import API_KEYS, Tenant, make_api_key, new_key, trigger_body
from tests.test_projection import snapshot as incident_snapshot
from tests.test_users_teams import tocsin
from workflows.messages import Projection, Status
from workflows.messages import TimelineEntry as TimelineMessage

LOG = "/api/audit-log"
SECRET = "a-signing-secret-of-some-length"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def admin_key(engine: AsyncEngine, scopes: list[str] | None = None) -> tuple[str, str, str]:
    """A fresh key (admin unless ``scopes``): its id, name and plaintext."""
    name = unique("auditor")
    async with session_scope(engine) as session:
        row, key = await create_api_key(session, name, scopes or ["admin"], hasher=API_KEYS)
    return row.id, name, key


async def log(http: httpx.AsyncClient, auth: dict[str, str], **filters: Any) -> list[dict]:
    """Matching entries, oldest first."""
    response = await http.get(LOG, params={"limit": 200, **filters}, headers=auth)
    assert response.status_code == 200, response.text
    return list(reversed(response.json()["entries"]))


async def of(http: httpx.AsyncClient, auth: dict[str, str], kind: str, target: str) -> list[dict]:
    return await log(http, auth, targetType=kind, targetId=target)


async def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def actions(entries: list[dict]) -> list[str]:
    return [e["action"] for e in entries]


async def test_service_integration_and_suppression_changes(
    http: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    key_id, key_name, key = await admin_key(engine)
    admin = bearer(key)
    first, second = unique("svc"), unique("svc")
    service = await ok(await http.post("/api/services", json={"name": first}, headers=admin), 201)
    sid = service["id"]
    await ok(await http.patch(f"/api/services/{sid}", json={"name": second}, headers=admin))
    body = {"name": "g", "type": "grafana", "signingSecret": SECRET}
    integration = await ok(
        await http.post(f"/api/services/{sid}/integrations", json=body, headers=admin), 201
    )
    iid = integration["id"]
    url = f"/api/services/{sid}/integrations/{iid}"
    await ok(await http.patch(url, json={"name": "g2", "signingSecret": ""}, headers=admin))
    await ok(await http.delete(url, headers=admin))
    await ok(await http.delete(url, headers=admin))  # disabling twice changes nothing
    rules = f"/api/services/{sid}/suppression-rules"
    rule = await ok(
        await http.post(rules, json={"name": "quiet", "source": "x"}, headers=admin), 201
    )
    await ok(await http.patch(f"{rules}/{rule['id']}", json={"enabled": False}, headers=admin))
    await ok(await http.delete(f"{rules}/{rule['id']}", headers=admin), 204)
    await ok(await http.delete(f"/api/services/{sid}", headers=admin))

    entries = await of(http, admin, "service", sid)
    assert actions(entries) == ["service.create", "service.update", "service.delete"]
    created, updated, deleted = entries
    assert created["before"] is None and created["after"]["name"] == first
    assert (updated["before"]["name"], updated["after"]["name"]) == (first, second)
    assert deleted["before"]["deleted_at"] is None and deleted["after"]["deleted_at"]
    for entry in entries:
        assert (entry["actor"], entry["actorName"]) == (f"api_key:{key_id}", key_name)

    entries = await of(http, admin, "integration", iid)
    assert actions(entries) == [
        "integration.create",
        "integration.update",
        "integration.disable",
    ]
    created, updated, disabled = entries
    assert created["after"]["signing_secret"] == REDACTED
    assert created["after"]["key_hash"] == REDACTED
    assert (updated["before"]["name"], updated["after"]["name"]) == ("g", "g2")
    assert (updated["before"]["signing_secret"], updated["after"]["signing_secret"]) == (
        REDACTED,
        None,
    )
    assert (disabled["before"]["disabled"], disabled["after"]["disabled"]) == (False, True)

    entries = await of(http, admin, "suppression_rule", rule["id"])
    assert actions(entries) == [
        "suppression_rule.create",
        "suppression_rule.update",
        "suppression_rule.delete",
    ]
    assert (entries[1]["before"]["enabled"], entries[1]["after"]["enabled"]) == (True, False)
    assert entries[2]["after"] is None and entries[2]["before"]["name"] == "quiet"

    everything = (await http.get(LOG, params={"actor": f"api_key:{key_id}"}, headers=admin)).text
    assert SECRET not in everything and integration["integrationKey"] not in everything


async def test_api_key_user_team_and_contact_changes(
    http: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    _, _, key = await admin_key(engine)
    admin = bearer(key)
    made = await ok(
        await http.post(
            "/api/api-keys", json={"name": "ci", "scopes": ["incidents:read"]}, headers=admin
        ),
        201,
    )
    await ok(await http.delete(f"/api/api-keys/{made['id']}", headers=admin))
    entries = await of(http, admin, "api_key", made["id"])
    assert actions(entries) == ["api_key.create", "api_key.revoke"]
    assert entries[0]["after"]["key_hash"] == REDACTED
    assert entries[0]["after"]["scopes"] == ["incidents:read"]
    assert entries[1]["before"]["revoked_at"] is None and entries[1]["after"]["revoked_at"]
    assert made["key"] not in str(entries)

    email = f"{unique('ada')}@example.com"
    user = await ok(
        await http.post("/api/users", json={"name": "Ada", "email": email}, headers=admin), 201
    )
    uid = user["id"]
    await ok(await http.patch(f"/api/users/{uid}", json={"role": "observer"}, headers=admin))
    methods = f"/api/users/{uid}/contact-methods"
    method = await ok(
        await http.post(methods, json={"type": "email", "address": email}, headers=admin), 201
    )
    await ok(await http.delete(f"{methods}/{method['id']}", headers=admin))
    rule_url = f"/api/users/{uid}/notification-rules/HIGH"
    await ok(await http.put(rule_url, json={"channels": ["email"]}, headers=admin))
    await ok(await http.put(rule_url, json={"channels": ["email", "slack"]}, headers=admin))
    await ok(await http.delete(rule_url, headers=admin))

    name = unique("team")
    team = await ok(
        await http.post("/api/teams", json={"name": name, "memberIds": [uid]}, headers=admin), 201
    )
    tid = team["id"]
    await ok(await http.patch(f"/api/teams/{tid}", json={"name": name + "x"}, headers=admin))
    await ok(await http.delete(f"/api/teams/{tid}/members/{uid}", headers=admin))
    await ok(await http.post(f"/api/teams/{tid}/members", json={"userId": uid}, headers=admin))
    await ok(await http.delete(f"/api/teams/{tid}", headers=admin))
    await ok(await http.delete(f"/api/users/{uid}", headers=admin))

    entries = await of(http, admin, "user", uid)
    assert actions(entries) == ["user.create", "user.update", "user.delete"]
    assert (entries[1]["before"]["role"], entries[1]["after"]["role"]) == ("responder", "observer")
    assert entries[0]["after"]["password_hash"] is None  # no password: nothing to redact

    entries = await of(http, admin, "contact_method", method["id"])
    assert actions(entries) == ["contact_method.create", "contact_method.delete"]
    assert entries[1]["before"]["address"] == email

    entries = await of(http, admin, "notification_rule", f"{uid}/HIGH")
    assert actions(entries) == [
        "notification_rule.set",
        "notification_rule.set",
        "notification_rule.delete",
    ]
    assert entries[0]["before"] is None
    assert (entries[1]["before"]["channels"], entries[1]["after"]["channels"]) == (
        ["email"],
        ["email", "slack"],
    )

    entries = await of(http, admin, "team", tid)
    assert actions(entries) == [
        "team.create",
        "team.update",
        "team.remove_member",
        "team.add_member",
        "team.delete",
    ]
    assert entries[0]["after"]["member_ids"] == [uid]
    assert (entries[1]["before"]["name"], entries[1]["after"]["name"]) == (name, name + "x")
    assert (entries[2]["before"]["member_ids"], entries[2]["after"]["member_ids"]) == ([uid], [])
    assert entries[3]["after"]["member_ids"] == [uid]


async def test_policy_and_schedule_changes(http: httpx.AsyncClient, engine: AsyncEngine) -> None:
    _, _, key = await admin_key(engine)
    admin = bearer(key)
    email = f"{unique('bo')}@example.com"
    user = await ok(
        await http.post("/api/users", json={"name": "Bo", "email": email}, headers=admin), 201
    )
    uid = user["id"]

    def step(delay: int) -> dict:
        return {"delayMinutes": delay, "targets": [{"type": "user", "id": uid}]}

    policy = await ok(
        await http.post(
            "/api/escalation-policies",
            json={"name": unique("pol"), "steps": [step(5)]},
            headers=admin,
        ),
        201,
    )
    url = f"/api/escalation-policies/{policy['id']}"
    await ok(await http.patch(url, json={"steps": [step(5), step(10)]}, headers=admin))
    await ok(await http.patch(url, json={"description": "nights"}, headers=admin))
    await ok(await http.delete(url, headers=admin), 200)
    entries = await of(http, admin, "escalation_policy", policy["id"])
    assert actions(entries) == [
        "escalation_policy.create",
        "escalation_policy.update",
        "escalation_policy.update",
        "escalation_policy.delete",
    ]
    assert [s["delay_minutes"] for s in entries[0]["after"]["steps"]] == [5]
    assert [s["delay_minutes"] for s in entries[1]["before"]["steps"]] == [5]
    assert [s["delay_minutes"] for s in entries[1]["after"]["steps"]] == [5, 10]
    assert entries[2]["after"]["steps"] == entries[1]["after"]["steps"]
    assert (entries[2]["before"]["description"], entries[2]["after"]["description"]) == (
        None,
        "nights",
    )
    assert entries[3]["before"]["steps"] == entries[1]["after"]["steps"]

    layer = {"start": "2026-03-02T09:00", "users": [uid], "shift": {"kind": "days", "days": 1}}
    body = {"name": unique("sched"), "timeZone": "Europe/Berlin", "layers": [layer]}
    schedule = await ok(await http.post("/api/schedules", json=body, headers=admin), 201)
    url = f"/api/schedules/{schedule['id']}"
    await ok(await http.patch(url, json={"timeZone": "UTC"}, headers=admin))
    window = {"userId": uid, "start": "2026-03-10T00:00:00Z", "end": "2026-03-11T00:00:00Z"}
    override = await ok(await http.post(f"{url}/overrides", json=window, headers=admin), 201)
    await ok(await http.delete(f"{url}/overrides/{override['id']}", headers=admin))
    feed = await ok(await http.post(f"{url}/calendar-feeds", json={}, headers=admin), 201)
    await ok(await http.delete(f"{url}/calendar-feeds", headers=admin))
    await ok(await http.delete(url, headers=admin))

    entries = await of(http, admin, "schedule", schedule["id"])
    assert actions(entries) == ["schedule.create", "schedule.update", "schedule.delete"]
    assert entries[0]["after"]["layers"][0]["users"] == [uid]
    assert (entries[1]["before"]["time_zone"], entries[1]["after"]["time_zone"]) == (
        "Europe/Berlin",
        "UTC",
    )
    entries = await of(http, admin, "schedule_override", override["id"])
    assert actions(entries) == ["schedule_override.create", "schedule_override.delete"]
    assert entries[0]["after"]["schedule_id"] == schedule["id"]
    feeds = await log(http, admin, targetType="calendar_feed")
    mine = [e for e in feeds if (e["after"] or {}).get("schedule_id") == schedule["id"]]
    assert actions(mine) == ["calendar_feed.create"] and mine[0]["after"]["token_hash"] == REDACTED
    revoked = await of(http, admin, "calendar_feed", mine[0]["targetId"])
    assert actions(revoked) == ["calendar_feed.create", "calendar_feed.revoke"]
    assert feed["url"].rsplit("/", 1)[-1].split(".")[0] not in str(feeds)


async def test_refused_and_empty_changes_leave_no_entry(
    http: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    key_id, _, key = await admin_key(engine)
    admin = bearer(key)
    name = unique("team")
    await ok(await http.post("/api/teams", json={"name": name}, headers=admin), 201)
    taken = await http.post("/api/teams", json={"name": name}, headers=admin)
    assert taken.status_code == 409
    team = (await http.get("/api/teams", headers=admin)).json()["teams"]
    tid = next(t["id"] for t in team if t["name"] == name)
    # Nothing changes: nothing to record.
    await ok(await http.patch(f"/api/teams/{tid}", json={"name": name}, headers=admin))
    assert actions(await log(http, admin, actor=f"api_key:{key_id}")) == ["team.create"]


async def test_incident_actions_are_recorded_once(
    http: httpx.AsyncClient, engine: AsyncEngine, tenant: Tenant
) -> None:
    key_id, _, key = await admin_key(engine)
    admin = bearer(key)
    triggered = await http.post("/api/events", json=trigger_body(new_key()), headers=tenant.token)
    incident_id = triggered.json()["incident_key"]
    await ok(
        await http.patch(
            f"/api/incidents/{incident_id}", json={"status": "ACKNOWLEDGED"}, headers=admin
        )
    )
    await ok(
        await http.post(
            f"/api/incidents/{incident_id}/notes", json={"body": "on it"}, headers=admin
        ),
        201,
    )
    entries = await of(http, admin, "incident", incident_id)
    # The trigger came from an integration: not a person's action.
    assert actions(entries) == ["incident.acknowledge", "incident.note"]
    ack = entries[0]
    assert ack["actor"] == f"api_key:{key_id}"
    assert (ack["before"], ack["after"]) == ({"status": "OPEN"}, {"status": "ACKNOWLEDGED"})
    assert entries[1]["after"] == {"note": "on it"}

    # The projection retried with the same timeline (a stale snapshot: the row stays).
    async with session_scope(engine) as session:
        rows = (
            await session.exec(
                select(TimelineEntry).where(col(TimelineEntry.incident_id) == incident_id)
            )
        ).all()
    timeline = [TimelineMessage.model_validate(r, from_attributes=True) for r in rows]
    retry = Projection(
        incident=incident_snapshot(tenant, incident_id, 0, Status.OPEN),
        alerts=[],
        timeline=timeline,
    )
    projection = ProjectionActivities(engine)
    await projection.project(retry)
    await projection.project(retry)
    assert actions(await of(http, admin, "incident", incident_id)) == actions(entries)


async def test_projection_retries_add_no_entries(engine: AsyncEngine, tenant: Tenant) -> None:
    incident_id = new_key("inc")
    now = datetime.now(UTC)

    def entry(seq: int, kind: str, actor: str, data: dict, message: str = "") -> TimelineMessage:
        return TimelineMessage(seq=seq, at=now, kind=kind, actor=actor, message=message, data=data)

    timeline = [
        entry(1, "status", "user:usr_x", {"to": "OPEN"}, "Opened manually"),
        entry(2, "status", "slack:ada", {"from": "OPEN", "to": "SNOOZED", "until": "later"}),
        entry(3, "priority", "user:usr_x", {"from": None, "to": "P1"}),
        entry(4, "status", "timer", {"from": "SNOOZED", "to": "OPEN"}),
        entry(5, "status", "integration:int_x", {"from": "OPEN", "to": "RESOLVED"}),
        entry(6, "assignee", "api_key:key_x", {"from": None, "to": "usr_y"}),
    ]
    projection = Projection(
        incident=incident_snapshot(tenant, incident_id, 1, Status.OPEN),
        alerts=[],
        timeline=timeline,
    )
    activities = ProjectionActivities(engine)
    for _ in range(3):
        await activities.project(projection)
    async with session_scope(engine) as session:
        rows = (
            await session.exec(
                select(AuditEntry)
                .where(col(AuditEntry.target_id) == incident_id)
                .order_by(col(AuditEntry.source_key))
            )
        ).all()
    found = [(r.action, r.actor, r.before, r.after) for r in rows]
    assert found == [
        ("incident.create", "user:usr_x", None, {"status": "OPEN"}),
        (
            "incident.snooze",
            "slack:ada",
            {"status": "OPEN"},
            {"status": "SNOOZED", "snoozed_until": "later"},
        ),
        ("incident.priority", "user:usr_x", {"priority": None}, {"priority": "P1"}),
        ("incident.reassign", "api_key:key_x", {"assignee": None}, {"assignee": "usr_y"}),
    ]


async def test_only_unrestricted_admins_read_it(
    http: httpx.AsyncClient, engine: AsyncEngine, tenant: Tenant
) -> None:
    assert (await http.get(LOG)).status_code == 401
    assert (await http.get(LOG, headers=bearer("tk_nonsense"))).status_code == 401
    reader = bearer(await make_api_key(engine, ["incidents:read", "services:write"]))
    refused = await http.get(LOG, headers=reader)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "MISSING_SCOPE"
    restricted = bearer(await make_api_key(engine, ["admin"], [tenant.service_id]))
    assert (await http.get(LOG, headers=restricted)).status_code == 403
    admin = bearer(await make_api_key(engine, ["admin"]))
    for bad in ({"cursor": "nonsense"}, {"since": "2026-01-01T00:00:00"}, {"limit": 0}):
        response = await http.get(LOG, params=bad, headers=admin)
        assert response.status_code == 400, bad
    spec = (await http.get("/openapi.json")).json()
    assert "/api/audit-log" in spec["paths"]


async def test_pages_newest_first(http: httpx.AsyncClient, engine: AsyncEngine) -> None:
    key_id, _, key = await admin_key(engine)
    admin = bearer(key)
    names = [unique("team") for _ in range(5)]
    for name in names:
        await ok(await http.post("/api/teams", json={"name": name}, headers=admin), 201)
    seen: list[str] = []
    cursor: str | None = None
    sizes = []
    while True:
        params: dict[str, str] = {"actor": f"api_key:{key_id}", "limit": "2"}
        if cursor:
            params["cursor"] = cursor
        page = await ok(await http.get(LOG, params=params, headers=admin))
        sizes.append(len(page["entries"]))
        seen += [e["after"]["name"] for e in page["entries"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert sizes == [2, 2, 1]
    assert seen == list(reversed(names))
    since = datetime.now(UTC).isoformat()
    assert await log(http, admin, actor=f"api_key:{key_id}", since=since) == []
    assert len(await log(http, admin, actor=f"api_key:{key_id}", until=since)) == 5
    only = await log(http, admin, actor=f"api_key:{key_id}", action="team.update")
    assert only == []


async def test_entries_commit_with_their_change(engine: AsyncEngine) -> None:
    """A change rolled back takes its entry along (same transaction)."""
    name = unique("rolled-back")
    try:
        async with session_scope(engine) as session:
            await create_api_key(session, name, ["incidents:read"], hasher=API_KEYS)
            raise RuntimeError("abort")
    except RuntimeError:
        pass
    async with session_scope(engine) as session:
        count = (
            await session.exec(
                select(func.count())
                .select_from(AuditEntry)
                .where(col(AuditEntry.after)["name"].astext == name)
            )
        ).one()
    assert count == 0


async def test_cli_changes_are_logged_as_cli(
    http: httpx.AsyncClient, engine: AsyncEngine, database_url: str
) -> None:
    admin = bearer(await make_api_key(engine, ["admin"]))
    team = tocsin("team", "create", "--name", unique("cli-team"), database_url=database_url)
    [entry] = await of(http, admin, "team", team["id"])
    assert entry["action"] == "team.create" and entry["actor"] == "cli"
