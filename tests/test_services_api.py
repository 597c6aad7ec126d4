"""/api/services and their integrations: CRUD, soft delete with open incidents, revocation,
and keys of non-admin users limited to their teams' services."""

import uuid

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import make_api_key, new_key, trigger_body


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def token(integration_key: str) -> dict[str, str]:
    return {"Authorization": f"Token token={integration_key}"}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def admin(engine: AsyncEngine) -> dict[str, str]:
    return bearer(await make_api_key(engine, ["admin"]))


async def new_service(http: httpx.AsyncClient, admin: dict[str, str], **fields: object) -> dict:
    response = await http.post(
        "/api/services", json={"name": unique("svc")} | fields, headers=admin
    )
    assert response.status_code == 201, response.text
    return response.json()


async def new_integration(http: httpx.AsyncClient, admin: dict[str, str], service_id: str) -> dict:
    response = await http.post(
        f"/api/services/{service_id}/integrations", json={"name": "prometheus"}, headers=admin
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_service_crud(http: httpx.AsyncClient, admin: dict[str, str]) -> None:
    team = (await http.post("/api/teams", json={"name": unique("team")}, headers=admin)).json()
    policy = await http.post(
        "/api/escalation-policies",
        json={"name": unique("pol"), "steps": [{"delayMinutes": 0, "targets": [
            {"type": "team", "id": team["id"]}]}]},
        headers=admin,
    )  # fmt: skip
    policy_id = policy.json()["id"]
    created = await new_service(
        http, admin, description="edge", teamId=team["id"], escalationPolicyId=policy_id
    )
    assert created["id"].startswith("svc_")
    assert created | {"description": "edge", "teamId": team["id"]} == created
    assert created["escalationPolicyId"] == policy_id
    service_id = created["id"]
    assert (await http.get(f"/api/services/{service_id}", headers=admin)).json() == created
    assert created in (await http.get("/api/services", headers=admin)).json()["services"]

    patched = await http.patch(
        f"/api/services/{service_id}",
        json={"name": "renamed", "teamId": None, "description": None},
        headers=admin,
    )
    assert patched.status_code == 200
    body = patched.json()
    assert (body["name"], body["teamId"], body["description"]) == ("renamed", None, None)
    assert body["escalationPolicyId"] == policy_id

    deleted = await http.delete(f"/api/services/{service_id}", headers=admin)
    assert deleted.status_code == 200
    assert deleted.json() == {"id": service_id, "deleted": True, "resolvedIncidentIds": []}
    for method in ("GET", "PATCH", "DELETE"):
        gone = await http.request(method, f"/api/services/{service_id}", json={}, headers=admin)
        assert gone.status_code == 404 and gone.json()["error"]["code"] == "NOT_FOUND"
    listing = (await http.get("/api/services", headers=admin)).json()["services"]
    assert service_id not in {s["id"] for s in listing}


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "name"), ({"name": ""}, "name"), ({"name": "x", "teamId": "team_nope"}, "teamId"),
     ({"name": "x", "escalationPolicyId": "p" * 41}, "escalationPolicyId"),
     ({"name": "x", "escalationPolicyId": "pol_nope"}, "escalationPolicyId")],
)  # fmt: skip
async def test_service_validation(
    http: httpx.AsyncClient, admin: dict[str, str], body: dict, field: str
) -> None:
    response = await http.post("/api/services", json=body, headers=admin)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "INVALID_REQUEST"
    assert response.json()["error"]["field"] == field


async def test_service_patch_and_scopes(http: httpx.AsyncClient, engine: AsyncEngine) -> None:
    admin = bearer(await make_api_key(engine, ["admin"]))
    service = await new_service(http, admin)
    url = f"/api/services/{service['id']}"
    null_name = await http.patch(url, json={"name": None}, headers=admin)
    assert null_name.status_code == 400 and null_name.json()["error"]["field"] == "name"
    bad_team = await http.patch(url, json={"teamId": "team_nope"}, headers=admin)
    assert bad_team.status_code == 400 and bad_team.json()["error"]["field"] == "teamId"
    assert (await http.patch(url, content=b"[", headers=admin)).json()["error"][
        "code"
    ] == "INVALID_JSON"

    reader = bearer(await make_api_key(engine, ["services:read"]))
    assert (await http.get(url, headers=reader)).status_code == 200
    denied = await http.patch(url, json={"name": "x"}, headers=reader)
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "MISSING_SCOPE"
    assert (await http.post("/api/services", json={"name": "x"}, headers=reader)).status_code == 403
    assert (await http.get("/api/services")).status_code == 401


async def test_integrations_create_list_and_revoke(
    http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    service = await new_service(http, admin)
    integration = await new_integration(http, admin, service["id"])
    key = integration["integrationKey"]
    assert len(key) == 32 and integration["keyPrefix"] == key[:8]
    assert integration["serviceId"] == service["id"] and integration["disabled"] is False

    listing = await http.get(f"/api/services/{service['id']}/integrations", headers=admin)
    [listed] = listing.json()["integrations"]
    assert listed["id"] == integration["id"] and "integrationKey" not in listed
    assert key not in listing.text

    sent = await http.post("/api/events", json=trigger_body(new_key()), headers=token(key))
    assert sent.status_code == 202

    revoked = await http.delete(
        f"/api/services/{service['id']}/integrations/{integration['id']}", headers=admin
    )
    assert revoked.status_code == 200 and revoked.json()["disabled"] is True
    refused = await http.post("/api/events", json=trigger_body(new_key()), headers=token(key))
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "INVALID_INTEGRATION_KEY"

    missing = await http.delete(
        f"/api/services/{service['id']}/integrations/int_nope", headers=admin
    )
    assert missing.status_code == 404
    no_name = await http.post(f"/api/services/{service['id']}/integrations", json={}, headers=admin)
    assert no_name.status_code == 400 and no_name.json()["error"]["field"] == "name"
    assert (await http.get("/api/services/svc_nope/integrations", headers=admin)).status_code == 404


async def test_delete_with_open_incident_is_409_and_force_resolves_it(
    http: httpx.AsyncClient, engine: AsyncEngine, admin: dict[str, str]
) -> None:
    service = await new_service(http, admin)
    key = (await new_integration(http, admin, service["id"]))["integrationKey"]
    opened = await http.post("/api/events", json=trigger_body(new_key()), headers=token(key))
    assert opened.status_code == 202
    incident_id = opened.json()["incident_key"]
    url = f"/api/services/{service['id']}"

    refused = await http.delete(url, headers=admin)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "SERVICE_HAS_OPEN_INCIDENTS"
    assert (await http.get(url, headers=admin)).status_code == 200

    # Forcing resolves incidents, so it needs incidents:write too.
    writer = bearer(await make_api_key(engine, ["services:write"]))
    no_scope = await http.delete(url, params={"force": "true"}, headers=writer)
    assert no_scope.status_code == 403 and no_scope.json()["error"]["code"] == "MISSING_SCOPE"
    bad = await http.delete(url, params={"force": "maybe"}, headers=admin)
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "force"

    forced = await http.delete(url, params={"force": "true"}, headers=admin)
    assert forced.status_code == 200, forced.text
    assert forced.json()["resolvedIncidentIds"] == [incident_id]
    incident = (await http.get(f"/api/incidents/{incident_id}", headers=admin)).json()
    assert incident["status"] == "RESOLVED"
    assert incident["service"]["id"] == service["id"], "history is kept"

    # The deleted service accepts no events, by integration key or by id.
    by_key = await http.post("/api/events", json=trigger_body(new_key()), headers=token(key))
    assert by_key.status_code == 403
    assert by_key.json()["error"]["code"] == "INVALID_INTEGRATION_KEY"
    by_id = await http.post(
        "/api/events", json=trigger_body(new_key()) | {"service_id": service["id"]}, headers=admin
    )
    assert by_id.status_code == 404 and by_id.json()["error"]["code"] == "SERVICE_NOT_FOUND"


async def test_delete_after_incidents_resolved_needs_no_force(
    http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    service = await new_service(http, admin)
    key = (await new_integration(http, admin, service["id"]))["integrationKey"]
    dedup = new_key()
    await http.post("/api/events", json=trigger_body(dedup), headers=token(key))
    await http.post(
        "/api/events", json={"event_action": "resolve", "dedup_key": dedup}, headers=token(key)
    )
    assert (await http.delete(f"/api/services/{service['id']}", headers=admin)).status_code == 200


async def test_restricted_key_sees_only_its_services(
    http: httpx.AsyncClient, engine: AsyncEngine, admin: dict[str, str]
) -> None:
    mine, theirs = await new_service(http, admin), await new_service(http, admin)
    key = bearer(await make_api_key(engine, ["services:read", "services:write"], [mine["id"]]))
    listing = (await http.get("/api/services", headers=key)).json()["services"]
    assert [s["id"] for s in listing] == [mine["id"]]
    for method, path in (
        ("GET", f"/api/services/{theirs['id']}"),
        ("PATCH", f"/api/services/{theirs['id']}"),
        ("DELETE", f"/api/services/{theirs['id']}"),
        ("GET", f"/api/services/{theirs['id']}/integrations"),
        ("POST", f"/api/services/{theirs['id']}/integrations"),
        ("GET", "/api/services/svc_does_not_exist"),
    ):
        response = await http.request(method, path, json={"name": "x"}, headers=key)
        assert response.status_code == 403, (method, path)
        assert response.json()["error"]["code"] == "SERVICE_ACCESS_DENIED"


async def test_non_admin_user_key_reaches_only_team_services(
    http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    user = (
        await http.post(
            "/api/users", json={"name": "R", "email": f"{unique('r')}@x.io"}, headers=admin
        )
    ).json()
    team = (
        await http.post(
            "/api/teams", json={"name": unique("team"), "memberIds": [user["id"]]}, headers=admin
        )
    ).json()
    ours = await new_service(http, admin, teamId=team["id"])
    other = await new_service(http, admin)
    made = await http.post(
        "/api/api-keys",
        json={
            "name": "responder",
            "scopes": ["events:write", "services:read", "incidents:read"],
            "userId": user["id"],
        },
        headers=admin,
    )
    assert made.status_code == 201, made.text
    key = bearer(made.json()["key"])

    listing = (await http.get("/api/services", headers=key)).json()["services"]
    assert [s["id"] for s in listing] == [ours["id"]]
    assert (await http.get(f"/api/services/{ours['id']}", headers=key)).status_code == 200
    denied = await http.get(f"/api/services/{other['id']}", headers=key)
    assert denied.status_code == 403

    sent = await http.post(
        "/api/events", json=trigger_body(new_key()) | {"service_id": ours["id"]}, headers=key
    )
    assert sent.status_code == 202
    refused = await http.post(
        "/api/events", json=trigger_body(new_key()) | {"service_id": other["id"]}, headers=key
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "SERVICE_ACCESS_DENIED"

    # Leaving the team takes effect on the next request.
    await http.delete(f"/api/teams/{team['id']}/members/{user['id']}", headers=admin)
    assert (await http.get("/api/services", headers=key)).json()["services"] == []
    # Users, teams and keys decide access, so such a key cannot change them: a responder's
    # key does no more than the responder role (no users:write), whatever it was made with.
    await http.post(f"/api/teams/{team['id']}/members", json={"userId": user["id"]}, headers=admin)
    writer = await http.post(
        "/api/api-keys",
        json={"name": "w", "scopes": ["users:write"], "userId": user["id"]},
        headers=admin,
    )
    escalate = await http.post(
        f"/api/teams/{team['id']}/members",
        json={"userId": user["id"]},
        headers=bearer(writer.json()["key"]),
    )
    assert escalate.status_code == 403 and escalate.json()["error"]["code"] == "MISSING_SCOPE"


async def test_admin_user_key_keeps_its_own_restriction(
    http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    boss = (
        await http.post(
            "/api/users",
            json={"name": "B", "email": f"{unique('b')}@x.io", "role": "admin"},
            headers=admin,
        )
    ).json()
    one, two = await new_service(http, admin), await new_service(http, admin)
    unrestricted = await http.post(
        "/api/api-keys",
        json={"name": "a", "scopes": ["services:read"], "userId": boss["id"]},
        headers=admin,
    )
    seen = (await http.get("/api/services", headers=bearer(unrestricted.json()["key"]))).json()
    assert {one["id"], two["id"]} <= {s["id"] for s in seen["services"]}
    limited = await http.post(
        "/api/api-keys",
        json={
            "name": "b", "scopes": ["services:read"], "userId": boss["id"],
            "serviceIds": [one["id"]],
        },
        headers=admin,
    )  # fmt: skip
    seen = (await http.get("/api/services", headers=bearer(limited.json()["key"]))).json()
    assert [s["id"] for s in seen["services"]] == [one["id"]]


async def test_openapi_documents_management_routes(http: httpx.AsyncClient) -> None:
    spec = (await http.get("/openapi.json")).json()
    paths = spec["paths"]
    expected = {
        "/api/users": {"get", "post"},
        "/api/users/{user_id}": {"get", "patch", "delete"},
        "/api/teams": {"get", "post"},
        "/api/teams/{team_id}": {"get", "patch", "delete"},
        "/api/teams/{team_id}/members": {"post"},
        "/api/teams/{team_id}/members/{user_id}": {"delete"},
        "/api/services": {"get", "post"},
        "/api/services/{service_id}": {"get", "patch", "delete"},
        "/api/services/{service_id}/integrations": {"get", "post"},
        "/api/services/{service_id}/integrations/{integration_id}": {"delete"},
        "/api/api-keys": {"get", "post"},
        "/api/api-keys/{key_id}": {"delete"},
    }
    for path, methods in expected.items():
        assert methods <= set(paths[path]), path
        for method in methods:
            assert paths[path][method]["tags"], (path, method)
    assert "requestBody" in paths["/api/users"]["post"]
