"""Slack's buttons and slash command, signed as Slack signs them, through the real API and
incident workflows; Slack's own side (users.info, response_url) is the fake Slack."""

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from models.db import session_scope
from models.directory import create_team, create_user
from models.notifications import ContactMethod
from models.service import Service
from tests.conftest import Tenant, new_key, trigger_body
from tests.fakes.slack_api import FakeSlack
from tests.slack_support import command_body, interaction_body, signed
from tocsin.keys import new_id
from tocsin.settings import Settings
from web.app import create_app


@pytest.fixture
def slack_user(slack_api: FakeSlack) -> dict:
    """Someone in Slack whom Tocsin does not know."""
    return slack_api.add_user(f"sam{uuid.uuid4().hex[:6]}")


async def open_incident(http: httpx.AsyncClient, tenant: Tenant) -> str:
    response = await http.post("/api/events", json=trigger_body(new_key()), headers=tenant.token)
    assert response.status_code == 202, response.text
    return str(response.json()["incident_key"])


async def incident(http: httpx.AsyncClient, tenant: Tenant, incident_id: str) -> dict:
    response = await http.get(f"/api/incidents/{incident_id}", headers=tenant.bearer)
    return dict(response.json())


async def timeline(http: httpx.AsyncClient, tenant: Tenant, incident_id: str) -> list[dict]:
    response = await http.get(f"/api/incidents/{incident_id}/timeline", headers=tenant.bearer)
    return list(response.json()["timeline"])


async def click(
    http: httpx.AsyncClient,
    slack_api: FakeSlack,
    action: str,
    incident_id: str,
    user: dict,
    **sign: Any,
) -> tuple[httpx.Response, str]:
    """Press a button; returns the answer and the name of the click's response_url."""
    name = uuid.uuid4().hex
    body = interaction_body(
        f"tocsin.{action}",
        incident_id,
        user_id=user["id"],
        username=user["name"],
        response_url=slack_api.response_url(name),
    )
    response = await http.post(
        "/api/slack/interactions", content=body, headers=signed(body, **sign)
    )
    return response, name


async def command(
    http: httpx.AsyncClient, slack_api: FakeSlack, text: str, user: dict
) -> tuple[httpx.Response, str]:
    name = uuid.uuid4().hex
    body = command_body(
        text, user_id=user["id"], username=user["name"], response_url=slack_api.response_url(name)
    )
    response = await http.post("/api/slack/commands", content=body, headers=signed(body))
    return response, name


def told(slack_api: FakeSlack, name: str) -> list[str]:
    return [c.params["text"] for c in slack_api.calls_of(f"response_url:{name}")]


async def linked_user(engine: AsyncEngine, slack_id: str | None = None) -> str:
    """A Tocsin user, linked to a Slack id by a slack contact method if given."""
    async with session_scope(engine) as session:
        user = await create_user(session, "Pat", f"pat-{uuid.uuid4().hex[:8]}@Example.com")
        if slack_id is not None:
            session.add(ContactMethod(id=new_id("cm"), user_id=user.id, type="slack",
                                      address=slack_id))  # fmt: skip
        return user.id


@pytest.mark.parametrize("problem", ["bad", "missing", "stale", "tampered"])
async def test_unsigned_requests_change_nothing(
    http: httpx.AsyncClient, slack_api: FakeSlack, tenant: Tenant, slack_user: dict, problem: str
) -> None:
    incident_id = await open_incident(http, tenant)
    body = interaction_body(
        "tocsin.resolve", incident_id, user_id=slack_user["id"], username="x", response_url=""
    )
    headers = {
        "bad": signed(body, secret="not-the-secret"),
        "missing": {"Content-Type": "application/x-www-form-urlencoded"},
        "stale": signed(body, timestamp=int(time.time()) - 600),
        "tampered": signed(body.replace("resolve", "acknowledge")),
    }[problem]
    for path in ("/api/slack/interactions", "/api/slack/commands"):
        response = await http.post(path, content=body, headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "INVALID_SIGNATURE"
    await asyncio.sleep(0.2)
    assert (await incident(http, tenant, incident_id))["status"] == "OPEN"


async def test_without_a_signing_secret_slack_routes_are_unavailable(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"slack_signing_secret": None}))
    async with app.test_app() as test_app:
        response = await test_app.test_client().post("/api/slack/commands", data={"text": "who x"})
        assert response.status_code == 503
        assert (await response.get_json())["error"]["code"] == "SLACK_NOT_CONFIGURED"


async def test_buttons_acknowledge_snooze_and_resolve(
    http: httpx.AsyncClient, slack_api: FakeSlack, tenant: Tenant, slack_user: dict
) -> None:
    incident_id = await open_incident(http, tenant)
    response, _ = await click(http, slack_api, "acknowledge", incident_id, slack_user)
    assert response.status_code == 200 and response.text == ""
    assert (await incident(http, tenant, incident_id))["status"] == "ACKNOWLEDGED"
    entries = await timeline(http, tenant, incident_id)
    assert entries[-1]["actor"] == f"slack:{slack_user['name']}"

    before = datetime.now(UTC)
    await click(http, slack_api, "snooze", incident_id, slack_user)
    snoozed = await incident(http, tenant, incident_id)
    assert snoozed["status"] == "SNOOZED"
    until = datetime.fromisoformat(snoozed["snoozedUntil"])
    assert before + timedelta(minutes=59) < until < datetime.now(UTC) + timedelta(minutes=61)

    response, name = await click(http, slack_api, "resolve", incident_id, slack_user)
    assert response.status_code == 200
    assert (await incident(http, tenant, incident_id))["status"] == "RESOLVED"
    assert told(slack_api, name) == []

    # A second click on the resolved incident: a polite note to the clicker, no error.
    response, name = await click(http, slack_api, "resolve", incident_id, slack_user)
    assert response.status_code == 200
    assert told(slack_api, name) == [f"{incident_id} (CPU high) is already resolved."]
    [note] = slack_api.calls_of(f"response_url:{name}")
    assert note.params["response_type"] == "ephemeral" and note.params["replace_original"] is False


async def test_double_click_is_harmless(
    http: httpx.AsyncClient, slack_api: FakeSlack, tenant: Tenant, slack_user: dict
) -> None:
    incident_id = await open_incident(http, tenant)
    clicks = await asyncio.gather(
        *(click(http, slack_api, "acknowledge", incident_id, slack_user) for _ in range(2))
    )
    assert [r.status_code for r, _ in clicks] == [200, 200]
    assert all(told(slack_api, name) == [] for _, name in clicks)
    assert (await incident(http, tenant, incident_id))["status"] == "ACKNOWLEDGED"
    acks = [e for e in await timeline(http, tenant, incident_id) if "ACKNOWLEDGED" in e["message"]]
    assert len(acks) == 1


async def test_assign_to_me_maps_the_slack_user(
    http: httpx.AsyncClient, engine: AsyncEngine, slack_api: FakeSlack, tenant: Tenant
) -> None:
    incident_id = await open_incident(http, tenant)
    by_id = slack_api.add_user(f"lee{uuid.uuid4().hex[:6]}")
    user_id = await linked_user(engine, by_id["id"])
    await click(http, slack_api, "assign", incident_id, by_id)
    assert (await incident(http, tenant, incident_id))["assignee"] == {"id": user_id}
    assert (await timeline(http, tenant, incident_id))[-1]["actor"] == f"user:{user_id}"

    # Not linked by id, but the Slack profile has the account's email (any case).
    email_user_id = await linked_user(engine)
    async with session_scope(engine) as session:
        from models import User

        email = (await session.get(User, email_user_id)).email  # type: ignore[union-attr]
    by_email = slack_api.add_user(f"kim{uuid.uuid4().hex[:6]}", email=email.upper())
    await click(http, slack_api, "assign", incident_id, by_email)
    assert (await incident(http, tenant, incident_id))["assignee"] == {"id": email_user_id}

    stranger = slack_api.add_user(f"eve{uuid.uuid4().hex[:6]}")
    response, name = await click(http, slack_api, "assign", incident_id, stranger)
    assert response.status_code == 200
    assert "linked to a Tocsin user" in told(slack_api, name)[0]
    assert (await incident(http, tenant, incident_id))["assignee"] == {"id": email_user_id}


async def test_slash_commands(
    http: httpx.AsyncClient, engine: AsyncEngine, slack_api: FakeSlack, slack_user: dict
) -> None:
    async with session_scope(engine) as session:
        user = await create_user(session, "On Call", f"oc-{uuid.uuid4().hex[:8]}@example.com")
        team, _ = await create_team(session, f"team-{uuid.uuid4().hex[:6]}", [user.id])
    from tests.conftest import make_tenant

    tenant = await make_tenant(engine)
    async with session_scope(engine) as session:
        service = await session.get(Service, tenant.service_id)
        assert service is not None
        service.team_id = team.id
    incident_id = await open_incident(http, tenant)

    async def run(text: str) -> dict:
        response, _ = await command(http, slack_api, text, slack_user)
        assert response.status_code == 200, response.text
        body = dict(response.json())
        assert body["response_type"] == "ephemeral"
        return body

    assert (await run(f"ack {incident_id}"))["text"] == f"{incident_id} is acknowledged."
    assert (await run(f"ack {incident_id}"))["text"] == f"{incident_id} is acknowledged."
    assert (await run(f"snooze {incident_id} 30m"))["text"] == f"{incident_id} is snoozed."
    until = datetime.fromisoformat((await incident(http, tenant, incident_id))["snoozedUntil"])
    assert until < datetime.now(UTC) + timedelta(minutes=31)
    assert (await run(f"note {incident_id} rolled back the deploy"))["text"] == (
        f"Note added to {incident_id}."
    )
    notes = await http.get(f"/api/incidents/{incident_id}/notes", headers=tenant.bearer)
    assert notes.json()["notes"][-1]["body"] == "rolled back the deploy"
    assert notes.json()["notes"][-1]["actor"] == f"slack:{slack_user['name']}"
    assert "Paged first for" in (await run(f"who {tenant.service_name.upper()}"))["text"]
    assert f"On Call ({user.email})" in (await run(f"who {tenant.service_id}"))["text"]
    assert (await run("who no-such-service"))["text"] == "No service no-such-service."
    assert (await run(f"resolve {incident_id}"))["text"] == f"{incident_id} is resolved."
    assert "already resolved" in (await run(f"resolve {incident_id}"))["text"]
    assert (await run("ack inc_nope"))["text"] == "No incident inc_nope."
    assert (await run("dance"))["text"].startswith("Usage:")
    assert "duration" in (await run(f"snooze {incident_id} soon"))["text"]


async def test_a_slow_command_answers_in_time_and_reports_later(
    http: httpx.AsyncClient, slack_api: FakeSlack, tenant: Tenant
) -> None:
    incident_id = await open_incident(http, tenant)
    slow = slack_api.add_user(f"slo{uuid.uuid4().hex[:6]}")
    slack_api.delay("users.info", 3.5)
    try:
        started = time.monotonic()
        response, name = await command(http, slack_api, f"ack {incident_id}", slow)
        assert time.monotonic() - started < 3.0
        assert response.json()["text"].startswith("Working on it")
        for _ in range(100):
            if told(slack_api, name):
                break
            await asyncio.sleep(0.1)
    finally:
        slack_api.delay("users.info", None)
    assert told(slack_api, name) == [f"{incident_id} is acknowledged."]
    assert (await incident(http, tenant, incident_id))["status"] == "ACKNOWLEDGED"
