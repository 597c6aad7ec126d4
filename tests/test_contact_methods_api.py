"""Contact methods, notification rules and the service's Slack channel / webhook fields."""

import asyncio

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import Tenant, make_api_key, make_tenant, new_key, trigger_body
from tests.paging_helpers import give_policy, make_user
from tests.test_users_teams import bearer, new_user


@pytest.fixture
async def admin(engine: AsyncEngine) -> dict[str, str]:
    return bearer(await make_api_key(engine, ["admin"]))


async def test_contact_methods_crud_and_validation(
    http: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    user = await new_user(http, admin)
    base = f"/api/users/{user['id']}/contact-methods"
    slack = await http.post(base, json={"type": "slack", "address": "U012ABCDEF"}, headers=admin)
    assert slack.status_code == 201, slack.text
    assert slack.json()["userId"] == user["id"] and slack.json()["type"] == "slack"
    email = await http.post(
        base, json={"type": "email", "address": " Pager@Example.COM ", "label": "pager"},
        headers=admin,
    )  # fmt: skip
    assert email.status_code == 201 and email.json()["address"] == "pager@example.com"
    again = await http.post(base, json={"type": "slack", "address": "U012ABCDEF"}, headers=admin)
    assert again.status_code == 409 and again.json()["error"]["code"] == "CONFLICT"
    for body, field in [
        ({"type": "slack", "address": "not-an-id"}, "address"),
        ({"type": "email", "address": "nobody"}, "address"),
        ({"type": "webhook", "address": "ftp://x"}, "address"),
        ({"type": "pigeon", "address": "x"}, "type"),
    ]:
        bad = await http.post(base, json=body, headers=admin)
        assert bad.status_code == 400, (body, bad.text)
        assert bad.json()["error"]["field"] == field
    listed = (await http.get(base, headers=admin)).json()["contactMethods"]
    assert [m["type"] for m in listed] == ["slack", "email"]
    gone = await http.delete(f"{base}/{slack.json()['id']}", headers=admin)
    assert gone.status_code == 200
    assert len((await http.get(base, headers=admin)).json()["contactMethods"]) == 1
    assert (await http.delete(f"{base}/{slack.json()['id']}", headers=admin)).status_code == 404
    missing = await http.get("/api/users/usr_nobody/contact-methods", headers=admin)
    assert missing.status_code == 404
    reader = bearer(await make_api_key(engine, ["incidents:read"]))
    refused = await http.post(base, json={"type": "email", "address": "a@b.co"}, headers=reader)
    assert refused.status_code == 403


async def test_notification_rules_default_and_set(
    http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    user = await new_user(http, admin)
    base = f"/api/users/{user['id']}/notification-rules"
    rules = (await http.get(base, headers=admin)).json()["notificationRules"]
    assert rules == [
        {"urgency": "HIGH", "channels": ["email"], "default": True},
        {"urgency": "MEDIUM", "channels": ["email"], "default": True},
        {"urgency": "LOW", "channels": ["email"], "default": True},
    ]
    await http.post(
        f"/api/users/{user['id']}/contact-methods",
        json={"type": "slack", "address": "U0SLACK1"},
        headers=admin,
    )
    rules = (await http.get(base, headers=admin)).json()["notificationRules"]
    assert rules[0]["channels"] == ["slack", "email"]
    put = await http.put(f"{base}/low", json={"channels": ["slack"]}, headers=admin)
    assert put.status_code == 200, put.text
    assert put.json()["notificationRules"][2] == {
        "urgency": "LOW", "channels": ["slack"], "default": False,
    }  # fmt: skip
    for urgency, channels in (("urgent", ["slack"]), ("HIGH", []), ("HIGH", ["fax"])):
        bad = await http.put(f"{base}/{urgency}", json={"channels": channels}, headers=admin)
        assert bad.status_code == 400, (urgency, channels)
    back = await http.delete(f"{base}/LOW", headers=admin)
    assert back.json()["notificationRules"][2]["default"] is True


async def test_service_slack_channel_and_webhook_fields(
    http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    body = {
        "name": new_key("svc"),
        "slackChannel": "#ops-alerts",
        "webhookUrl": "https://h.example/x",
    }
    created = await http.post("/api/services", json=body, headers=admin)
    assert created.status_code == 201, created.text
    assert created.json()["slackChannel"] == "#ops-alerts"
    assert created.json()["webhookUrl"] == "https://h.example/x"
    sid = created.json()["id"]
    change = {"slackChannel": "C0123ABC", "webhookUrl": None}
    patched = await http.patch(f"/api/services/{sid}", json=change, headers=admin)
    assert patched.status_code == 200
    assert (patched.json()["slackChannel"], patched.json()["webhookUrl"]) == ("C0123ABC", None)
    for bad in ({"slackChannel": "ops alerts"}, {"webhookUrl": "javascript:alert(1)"}):
        response = await http.patch(f"/api/services/{sid}", json=bad, headers=admin)
        assert response.status_code == 400, bad


async def test_incident_notifications_list_each_delivery(
    http: httpx.AsyncClient, engine: AsyncEngine, tenant: Tenant
) -> None:
    person = await make_user(engine, "nora", rules={"HIGH": ["email"]})
    await give_policy(engine, tenant.service_id, [(5, [("user", person.id)])])
    key = new_key()
    accepted = await http.post("/api/events", json=trigger_body(key), headers=tenant.token)
    url = f"/api/incidents/{accepted.json()['incident_key']}/notifications"
    rows: list = []
    for _ in range(200):
        response = await http.get(url, headers=tenant.bearer)
        assert response.status_code == 200
        rows = response.json()["notifications"]
        if rows and rows[0]["status"] != "sending":
            break
        await asyncio.sleep(0.05)
    pages = [r for r in rows if r["purpose"] == "page"]
    assert len(pages) == 1
    assert pages[0]["userId"] == person.id and pages[0]["channel"] == "email"
    assert pages[0]["step"] == 1 and pages[0]["status"] in ("sent", "skipped")
    stranger = await make_tenant(engine)
    elsewhere = bearer(await make_api_key(engine, ["incidents:read"], [stranger.service_id]))
    assert (await http.get(url, headers=elsewhere)).status_code in (403, 404)
