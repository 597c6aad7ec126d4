"""/api/api-keys: admin only, key material shown once, revocation effective immediately."""

import uuid

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from models.db import session_scope
from tests.conftest import make_api_key


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
async def admin(engine: AsyncEngine) -> dict[str, str]:
    return bearer(await make_api_key(engine, ["admin"]))


async def test_create_list_and_revoke(
    http: httpx.AsyncClient, engine: AsyncEngine, admin: dict[str, str]
) -> None:
    name = f"key-{uuid.uuid4().hex[:8]}"
    created = await http.post(
        "/api/api-keys", json={"name": name, "scopes": ["services:read"]}, headers=admin
    )
    assert created.status_code == 201, created.text
    body = created.json()
    key = body["key"]
    assert key.startswith("tk_") and body["prefix"] == key[:10]
    assert body["scopes"] == ["services:read"]
    assert body["serviceIds"] is None and body["userId"] is None and body["revokedAt"] is None

    listing = await http.get("/api/api-keys", headers=admin)
    assert listing.status_code == 200
    [listed] = [k for k in listing.json()["apiKeys"] if k["id"] == body["id"]]
    assert set(listed) == {
        "id", "name", "prefix", "scopes", "serviceIds", "userId", "createdAt", "revokedAt"
    }  # fmt: skip
    async with session_scope(engine) as session:
        key_hash = (
            await session.execute(
                text("SELECT key_hash FROM api_key WHERE id = :id"), {"id": body["id"]}
            )
        ).scalar_one()
    assert key not in listing.text and key_hash not in listing.text

    assert (await http.get("/api/services", headers=bearer(key))).status_code == 200
    revoked = await http.delete(f"/api/api-keys/{body['id']}", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["revokedAt"] is not None
    refused = await http.get("/api/services", headers=bearer(key))
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "UNAUTHORIZED"
    again = await http.delete(f"/api/api-keys/{body['id']}", headers=admin)
    assert again.json()["revokedAt"] == revoked.json()["revokedAt"]
    missing = await http.delete("/api/api-keys/key_nope", headers=admin)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"scopes": ["admin"]}, "name"),
        ({"name": "x"}, "scopes"),
        ({"name": "x", "scopes": []}, "scopes"),
        ({"name": "x", "scopes": ["root"]}, "scopes"),
        ({"name": "x", "scopes": ["events:write"], "serviceIds": ["svc_nope"]}, "serviceIds"),
        ({"name": "x", "scopes": ["events:write"], "userId": "usr_nope"}, "userId"),
    ],
)
async def test_validation_names_the_field(
    http: httpx.AsyncClient, admin: dict[str, str], body: dict, field: str
) -> None:
    response = await http.post("/api/api-keys", json=body, headers=admin)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "INVALID_REQUEST"
    assert response.json()["error"]["field"] == field


async def test_non_admin_user_key_cannot_have_admin_scope(
    http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    user = (
        await http.post(
            "/api/users", json={"name": "u", "email": f"{uuid.uuid4().hex}@x.io"}, headers=admin
        )
    ).json()
    response = await http.post(
        "/api/api-keys",
        json={"name": "x", "scopes": ["admin"], "userId": user["id"]},
        headers=admin,
    )
    assert response.status_code == 400 and response.json()["error"]["field"] == "scopes"


async def test_admin_scope_required(http: httpx.AsyncClient, engine: AsyncEngine) -> None:
    assert (await http.get("/api/api-keys")).status_code == 401
    writer = bearer(await make_api_key(engine, ["users:write", "services:write"]))
    for method, path in (
        ("GET", "/api/api-keys"),
        ("POST", "/api/api-keys"),
        ("DELETE", "/api/api-keys/key_x"),
    ):
        response = await http.request(
            method, path, json={"name": "x", "scopes": ["admin"]}, headers=writer
        )
        assert response.status_code == 403 and response.json()["error"]["code"] == "MISSING_SCOPE"


async def test_admin_key_limited_to_services_cannot_mint_keys(
    http: httpx.AsyncClient, engine: AsyncEngine, admin: dict[str, str]
) -> None:
    service = (await http.post("/api/services", json={"name": "s"}, headers=admin)).json()
    limited = bearer(await make_api_key(engine, ["admin"], [service["id"]]))
    response = await http.post(
        "/api/api-keys", json={"name": "x", "scopes": ["admin"]}, headers=limited
    )
    assert response.status_code == 403 and response.json()["error"]["code"] == "RESTRICTED_KEY"
