"""Admin pages of the web UI: services and integrations in a real browser (the shown curl
command really opens an incident), and role refusals over plain HTTP."""

import asyncio
import shlex
import subprocess
import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from models import Incident, Service
from models.db import session_scope
from tests.conftest import make_tenant
from tests.ui.conftest import browser_sign_in, make_user, sign_in
from tocsin.settings import Settings


async def _incident_of(engine: AsyncEngine, service_id: str) -> Incident | None:
    for _ in range(100):
        async with session_scope(engine) as session:
            found = (
                await session.exec(select(Incident).where(Incident.service_id == service_id))
            ).first()
        if found is not None:
            return found
        await asyncio.sleep(0.1)
    return None


async def test_create_service_and_key_then_the_shown_curl_opens_an_incident(
    page: object, engine: AsyncEngine, settings: Settings, api_url: str
) -> None:
    admin = await make_user(engine, "admin")
    await browser_sign_in(page, admin)
    p = page  # type: ignore[assignment]
    name = f"ui-svc-{uuid.uuid4().hex[:6]}"
    await p.goto("/services")  # type: ignore[attr-defined]
    await p.get_by_role("link", name="+ New service").click()  # type: ignore[attr-defined]
    # A bad Slack channel first: the error sits next to the field, nothing is created.
    await p.get_by_label("Name").fill(name)  # type: ignore[attr-defined]
    await p.get_by_label("Webhook URL").fill("not a url")  # type: ignore[attr-defined]
    await p.get_by_role("button", name="Create service").click()  # type: ignore[attr-defined]
    assert await p.locator("#webhook_url-error").is_visible()  # type: ignore[attr-defined]
    await p.get_by_label("Webhook URL").fill("")  # type: ignore[attr-defined]
    await p.get_by_role("button", name="Create service").click()  # type: ignore[attr-defined]
    await p.get_by_role("heading", name=name).wait_for()  # type: ignore[attr-defined]
    service_id = p.url.rstrip("/").rsplit("/", 1)[1]  # type: ignore[attr-defined]

    await p.get_by_label("Integration name").fill("curl test")  # type: ignore[attr-defined]
    await p.get_by_label("Type").select_option("events")  # type: ignore[attr-defined]
    await p.get_by_role("button", name="Create integration").click()  # type: ignore[attr-defined]
    await p.get_by_text("shown only once").wait_for()  # type: ignore[attr-defined]
    key = (await p.locator("#new-key").inner_text()).strip()  # type: ignore[attr-defined]
    curl = (await p.locator("#curl-snippet").inner_text()).strip()  # type: ignore[attr-defined]
    alertmanager = await p.locator("#alertmanager-snippet").inner_text()  # type: ignore[attr-defined]
    assert key in curl and "/v2/enqueue" in curl
    assert "pagerduty_configs" in alertmanager and f"routing_key: {key}" in alertmanager
    assert await p.get_by_role("button", name="Copy curl command").is_visible()  # type: ignore[attr-defined]

    # The shown command, word for word, except that the test server does not listen on
    # the configured public URL.
    assert f"'{settings.public_url}/v2/enqueue'" in curl
    command = shlex.split(curl.replace(settings.public_url, api_url))
    done = await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    assert '"success"' in done.stdout, done.stdout
    incident = await _incident_of(engine, service_id)
    assert incident is not None and incident.title == "Test event from curl"

    # Reloaded, the page no longer shows the key: it was shown once.
    await p.goto(f"/services/{service_id}")  # type: ignore[attr-defined]
    assert key not in await p.content()  # type: ignore[attr-defined]
    await p.get_by_role("button", name="Revoke curl test").click()  # type: ignore[attr-defined]
    await p.get_by_text("revoked", exact=True).wait_for()  # type: ignore[attr-defined]


async def test_service_edit_changes_the_row_through_the_shared_functions(
    ui_client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    tenant = await make_tenant(engine)
    admin = await make_user(engine, "admin")
    token = await sign_in(ui_client, admin)
    url = f"/services/{tenant.service_id}/edit"
    bad = await ui_client.post(url, data={"name": "", "slack_channel": "", "csrf_token": token})
    assert bad.status_code == 400 and 'id="name-error"' in bad.text
    ok = await ui_client.post(
        url, data={"name": "Renamed", "slack_channel": "#ops", "csrf_token": token}
    )
    assert ok.status_code == 302
    async with session_scope(engine) as session:
        service = await session.get(Service, tenant.service_id)
    assert service is not None and service.name == "Renamed" and service.slack_channel == "#ops"


async def test_observer_sees_no_service_buttons_and_a_forged_post_is_refused(
    ui_client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    tenant = await make_tenant(engine)
    observer = await make_user(engine, "observer", [tenant.service_id])
    token = await sign_in(ui_client, observer)
    listing = await ui_client.get("/services")
    assert listing.status_code == 200 and tenant.service_name in listing.text
    assert "New service" not in listing.text
    detail = await ui_client.get(f"/services/{tenant.service_id}")
    assert detail.status_code == 200
    for word in ("Edit service", "Create integration", "Revoke"):
        assert word not in detail.text
    forged = await ui_client.post(
        f"/services/{tenant.service_id}/integrations",
        data={"name": "sneaky", "type": "events", "csrf_token": token},
    )
    assert forged.status_code == 403
    edit = await ui_client.post(
        f"/services/{tenant.service_id}/edit", data={"name": "x", "csrf_token": token}
    )
    assert edit.status_code == 403


async def test_responder_cannot_open_admin_pages(
    ui_client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    responder = await make_user(engine, "responder")
    token = await sign_in(ui_client, responder)
    for path in ("/admin/api-keys", "/admin/users", "/admin/teams"):
        assert (await ui_client.get(path)).status_code == 403, path
    forged = await ui_client.post(
        "/admin/api-keys", data={"name": "x", "scopes": "admin", "csrf_token": token}
    )
    assert forged.status_code == 403


async def test_admin_creates_an_api_key_shown_once_that_works_then_revokes_it(
    ui_client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    admin = await make_user(engine, "admin")
    token = await sign_in(ui_client, admin)
    name = f"ui-key-{uuid.uuid4().hex[:6]}"
    empty = await ui_client.post("/admin/api-keys", data={"name": name, "csrf_token": token})
    assert empty.status_code == 400 and 'id="scopes-error"' in empty.text
    created = await ui_client.post(
        "/admin/api-keys",
        data={"name": name, "scopes": ["services:read"], "csrf_token": token},
    )
    assert created.status_code == 200 and "shown only once" in created.text
    key = created.text.split('<pre id="new-key"', 1)[1].split(">", 1)[1].split("<", 1)[0]
    api = {"Authorization": f"Bearer {key.strip()}"}
    assert (await ui_client.get("/api/services", headers=api)).status_code == 200
    listing = await ui_client.get("/admin/api-keys")
    assert name in listing.text and key.strip() not in listing.text
    key_id = listing.text.split(f"Revoke {name}")[0].rsplit("/admin/api-keys/", 1)[1]
    key_id = key_id.split("/revoke", 1)[0]
    revoked = await ui_client.post(f"/admin/api-keys/{key_id}/revoke", data={"csrf_token": token})
    assert revoked.status_code == 302
    assert (await ui_client.get("/api/services", headers=api)).status_code == 401


async def test_admin_creates_a_user_changes_the_role_and_builds_a_team(
    ui_client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    admin = await make_user(engine, "admin")
    token = await sign_in(ui_client, admin)
    email = f"new-{uuid.uuid4().hex[:6]}@example.com"
    bad = await ui_client.post(
        "/admin/users",
        data={"name": "N", "email": email, "timezone": "Mars/Base", "csrf_token": token},
    )
    assert bad.status_code == 400 and 'id="timezone-error"' in bad.text
    made = await ui_client.post(
        "/admin/users",
        data={"name": "Newbie", "email": email, "role": "responder", "csrf_token": token},
    )
    assert made.status_code == 302
    from models import User

    async with session_scope(engine) as session:
        user = (await session.exec(select(User).where(User.email == email))).one()
    changed = await ui_client.post(
        f"/admin/users/{user.id}", data={"role": "observer", "csrf_token": token}
    )
    assert changed.status_code == 302
    async with session_scope(engine) as session:
        again = await session.get(User, user.id)
    assert again is not None and again.role == "observer"
    team_name = f"team-ui-{uuid.uuid4().hex[:6]}"
    team = await ui_client.post(
        "/admin/teams",
        data={"name": team_name, "member_ids": [user.id], "csrf_token": token},
    )
    assert team.status_code == 302
    page = await ui_client.get("/admin/teams")
    assert team_name in page.text and "checked" in page.text


async def test_schedule_page_shows_two_weeks_with_the_on_call_name_and_takes_an_override(
    page: object, engine: AsyncEngine
) -> None:
    from models import User
    from models.schedules_store import create_schedule

    admin = await make_user(engine, "admin")
    async with session_scope(engine) as session:
        oncall = await session.get(User, admin.id)
        assert oncall is not None
        oncall.name = f"Oncall {uuid.uuid4().hex[:4]}"
        other = (await make_user(engine, "responder")).id
        schedule = await create_schedule(
            session,
            f"ui-sched-{uuid.uuid4().hex[:6]}",
            "Europe/Berlin",
            [
                {
                    "start": "2024-01-01T09:00",
                    "users": [admin.id],
                    "shift": {"kind": "days", "days": 1},
                }
            ],
        )
        name, schedule_id = oncall.name, schedule.id
    await browser_sign_in(page, admin)
    p = page  # type: ignore[assignment]
    await p.goto("/schedules")  # type: ignore[attr-defined]
    await p.get_by_role("link", name=schedule.name).click()  # type: ignore[attr-defined]
    rows = p.locator("table.timeline-grid tbody tr")  # type: ignore[attr-defined]
    assert await rows.count() == 14
    assert name in await rows.first.inner_text()
    assert "Europe/Berlin" in await p.content()  # type: ignore[attr-defined]
    # An end before the start is refused next to the field.
    await p.get_by_label("Who is on call").select_option(other)  # type: ignore[attr-defined]
    await p.get_by_label("Start (Europe/Berlin)").fill("2030-01-02T10:00")  # type: ignore[attr-defined]
    await p.get_by_label("End (Europe/Berlin)").fill("2030-01-02T09:00")  # type: ignore[attr-defined]
    await p.get_by_role("button", name="Add override").click()  # type: ignore[attr-defined]
    assert await p.locator("#end-error").is_visible()  # type: ignore[attr-defined]
    assert p.url.endswith(f"/schedules/{schedule_id}/overrides")  # type: ignore[attr-defined]
