"""/api/users and /api/teams, and the CLI's user, team and admin-key commands."""

import json
import os
import subprocess
import sys
import uuid

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import make_api_key

TOCSIN = [sys.executable, "-m", "tocsin.cli"]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def email() -> str:
    return f"{unique('user')}@Example.com"


@pytest.fixture
async def admin(engine: AsyncEngine) -> dict[str, str]:
    return bearer(await make_api_key(engine, ["admin"]))


async def new_user(http: httpx.AsyncClient, admin: dict[str, str], **fields: str) -> dict:
    body = {"name": unique("Ada"), "email": email()} | fields
    response = await http.post("/api/users", json=body, headers=admin)
    assert response.status_code == 201, response.text
    return response.json()


async def test_user_crud(http: httpx.AsyncClient, admin: dict[str, str]) -> None:
    address = email()
    created = await new_user(http, admin, email=address, timezone="Europe/Berlin")
    assert created["id"].startswith("usr_")
    assert created["email"] == address.lower()
    assert created["role"] == "responder" and created["timezone"] == "Europe/Berlin"
    assert "createdAt" in created
    user_id = created["id"]

    fetched = await http.get(f"/api/users/{user_id}", headers=admin)
    assert fetched.json() == created
    listing = (await http.get("/api/users", headers=admin)).json()["users"]
    assert created in listing

    patched = await http.patch(
        f"/api/users/{user_id}", json={"role": "observer", "name": "Ada L."}, headers=admin
    )
    assert patched.status_code == 200
    assert patched.json() | {"role": "observer", "name": "Ada L."} == patched.json()
    assert patched.json()["email"] == address.lower()

    deleted = await http.delete(f"/api/users/{user_id}", headers=admin)
    assert deleted.json() == {"id": user_id, "deleted": True}
    for method in ("GET", "PATCH", "DELETE"):
        gone = await http.request(method, f"/api/users/{user_id}", json={}, headers=admin)
        assert gone.status_code == 404 and gone.json()["error"]["code"] == "NOT_FOUND"


async def test_user_defaults(http: httpx.AsyncClient, admin: dict[str, str]) -> None:
    user = await new_user(http, admin)
    assert user["timezone"] == "UTC" and user["role"] == "responder"


async def test_duplicate_email_is_409_case_insensitively(
    http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    address = email()
    first = await new_user(http, admin, email=address)
    again = await http.post(
        "/api/users", json={"name": "Other", "email": address.upper()}, headers=admin
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "CONFLICT"
    assert again.json()["error"]["field"] == "email"
    other = await new_user(http, admin)
    taken = await http.patch(f"/api/users/{other['id']}", json={"email": address}, headers=admin)
    assert taken.status_code == 409
    # Re-saving one's own email is not a conflict.
    same = await http.patch(f"/api/users/{first['id']}", json={"email": address}, headers=admin)
    assert same.status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "a@b.co"}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x"}, "email"),
        ({"name": "x", "email": "not-an-email"}, "email"),
        ({"name": "x", "timezone": "Mars/Olympus"}, "timezone"),
        ({"name": "x", "timezone": "../etc/passwd"}, "timezone"),
        ({"name": "x", "timezone": "Europe"}, "timezone"),  # a tzdata folder, not a zone
        ({"name": "x", "role": "root"}, "role"),
    ],
)
async def test_user_validation_names_the_field(
    http: httpx.AsyncClient, admin: dict[str, str], body: dict, field: str
) -> None:
    body = {"email": email()} | body if "email" not in body and field != "email" else body
    response = await http.post("/api/users", json=body, headers=admin)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "INVALID_REQUEST"
    assert response.json()["error"]["field"] == field


async def test_user_patch_validation_and_bad_json(
    http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    user = await new_user(http, admin)
    null_name = await http.patch(f"/api/users/{user['id']}", json={"name": None}, headers=admin)
    assert null_name.status_code == 400 and null_name.json()["error"]["field"] == "name"
    bad_tz = await http.patch(
        f"/api/users/{user['id']}", json={"timezone": "Nowhere/Land"}, headers=admin
    )
    assert bad_tz.json()["error"]["field"] == "timezone"
    not_json = await http.post("/api/users", content=b"{nope", headers=admin)
    assert not_json.status_code == 400 and not_json.json()["error"]["code"] == "INVALID_JSON"


async def test_user_scopes(http: httpx.AsyncClient, engine: AsyncEngine) -> None:
    reader = bearer(await make_api_key(engine, ["services:read"]))
    assert (await http.get("/api/users", headers=reader)).status_code == 200
    denied = await http.post("/api/users", json={"name": "x", "email": email()}, headers=reader)
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "MISSING_SCOPE"
    events_only = bearer(await make_api_key(engine, ["events:write"]))
    assert (await http.get("/api/users", headers=events_only)).status_code == 403
    assert (await http.get("/api/users")).status_code == 401
    writer = bearer(await make_api_key(engine, ["users:write"]))
    made = await http.post("/api/users", json={"name": "x", "email": email()}, headers=writer)
    assert made.status_code == 201
    assert (await http.get("/api/users", headers=writer)).status_code == 200


async def test_team_crud_and_members(http: httpx.AsyncClient, admin: dict[str, str]) -> None:
    alice, bob, carol = [await new_user(http, admin) for _ in range(3)]
    name = unique("team")
    created = await http.post(
        "/api/teams", json={"name": name, "memberIds": [alice["id"], bob["id"]]}, headers=admin
    )
    assert created.status_code == 201, created.text
    team = created.json()
    assert team["id"].startswith("team_")
    assert team["memberIds"] == sorted([alice["id"], bob["id"]])
    team_id = team["id"]
    assert (await http.get(f"/api/teams/{team_id}", headers=admin)).json() == team
    assert team in (await http.get("/api/teams", headers=admin)).json()["teams"]

    added = await http.post(
        f"/api/teams/{team_id}/members", json={"userId": carol["id"]}, headers=admin
    )
    assert added.status_code == 200
    assert carol["id"] in added.json()["memberIds"]
    removed = await http.delete(f"/api/teams/{team_id}/members/{alice['id']}", headers=admin)
    assert removed.json()["memberIds"] == sorted([bob["id"], carol["id"]])
    again = await http.delete(f"/api/teams/{team_id}/members/{alice['id']}", headers=admin)
    assert again.status_code == 404

    renamed = await http.patch(
        f"/api/teams/{team_id}", json={"name": name + "-x", "memberIds": [alice["id"]]},
        headers=admin,
    )  # fmt: skip
    assert renamed.json()["name"] == name + "-x"
    assert renamed.json()["memberIds"] == [alice["id"]]

    # Deleting a member's user removes them from the team.
    await http.delete(f"/api/users/{alice['id']}", headers=admin)
    assert (await http.get(f"/api/teams/{team_id}", headers=admin)).json()["memberIds"] == []

    assert (await http.delete(f"/api/teams/{team_id}", headers=admin)).status_code == 200
    gone = await http.get(f"/api/teams/{team_id}", headers=admin)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "NOT_FOUND"
    missing = await http.post(
        f"/api/teams/{team_id}/members", json={"userId": bob["id"]}, headers=admin
    )
    assert missing.status_code == 404


async def test_team_errors(http: httpx.AsyncClient, admin: dict[str, str]) -> None:
    name = unique("team")
    unknown = await http.post(
        "/api/teams", json={"name": name, "memberIds": ["usr_nope"]}, headers=admin
    )
    assert unknown.status_code == 400
    assert (
        unknown.json()["error"] | {"code": "INVALID_REQUEST", "field": "memberIds"}
        == (unknown.json()["error"])
    )
    team = (await http.post("/api/teams", json={"name": name}, headers=admin)).json()
    assert team["memberIds"] == []
    duplicate = await http.post("/api/teams", json={"name": name}, headers=admin)
    assert duplicate.status_code == 409 and duplicate.json()["error"]["code"] == "CONFLICT"
    bad_member = await http.post(
        f"/api/teams/{team['id']}/members", json={"userId": "usr_nope"}, headers=admin
    )
    assert bad_member.status_code == 400 and bad_member.json()["error"]["field"] == "userId"
    no_user = await http.post(f"/api/teams/{team['id']}/members", json={}, headers=admin)
    assert no_user.status_code == 400 and no_user.json()["error"]["field"] == "userId"
    bad_patch = await http.patch(
        f"/api/teams/{team['id']}", json={"memberIds": ["usr_nope"]}, headers=admin
    )
    assert bad_patch.json()["error"]["field"] == "memberIds"
    assert (await http.get("/api/teams/team_nope", headers=admin)).status_code == 404


def tocsin(*args: str, database_url: str) -> dict:
    env = {**os.environ, "DATABASE_URL": database_url}
    result = subprocess.run(
        [*TOCSIN, *args, "--json"], env=env, capture_output=True, text=True, check=True
    )
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    return json.loads(lines[0])


async def test_cli_user_team_and_admin_key(http: httpx.AsyncClient, database_url: str) -> None:
    address = email()
    user = tocsin(
        "user", "create", "--name", "Grace", "--email", address,
        "--timezone", "America/New_York", "--role", "admin", database_url=database_url,
    )  # fmt: skip
    assert user["id"].startswith("usr_") and user["email"] == address.lower()
    assert user["timezone"] == "America/New_York" and user["role"] == "admin"
    other = tocsin("user", "create", "--name", "Lin", "--email", email(), database_url=database_url)
    assert other["role"] == "responder" and other["timezone"] == "UTC"

    name = unique("cli-team")
    team = tocsin(
        "team", "create", "--name", name, "--members", f"{user['id']},{other['id']}",
        database_url=database_url,
    )  # fmt: skip
    assert team["id"].startswith("team_")
    assert team["member_ids"] == sorted([user["id"], other["id"]])

    admin_key = tocsin(
        "apikey", "create", "--admin", "--name", "bootstrap", database_url=database_url
    )
    assert admin_key["scopes"] == ["admin"]
    headers = bearer(admin_key["key"])
    fetched = await http.get(f"/api/teams/{team['id']}", headers=headers)
    assert fetched.status_code == 200 and fetched.json()["name"] == name

    user_key = tocsin(
        "apikey", "create", "--name", "mine", "--scopes", "services:read",
        "--user", other["id"], database_url=database_url,
    )  # fmt: skip
    assert user_key["user_id"] == other["id"]
    keys = (await http.get("/api/api-keys", headers=headers)).json()["apiKeys"]
    assert {"id": user_key["id"], "userId": other["id"]}.items() <= next(
        k for k in keys if k["id"] == user_key["id"]
    ).items()


def test_cli_refuses_bad_user_input(database_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": database_url}
    for args in (
        ["user", "create", "--name", "x", "--email", "x@y.z", "--timezone", "Mars/Base"],
        ["team", "create", "--name", unique("t"), "--members", "usr_nope"],
        ["apikey", "create", "--name", "x"],
    ):
        result = subprocess.run([*TOCSIN, *args, "--json"], env=env, capture_output=True, text=True)
        assert result.returncode != 0, args
