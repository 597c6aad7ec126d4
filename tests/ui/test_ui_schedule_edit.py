"""Creating and editing schedules in the web UI (issue #7), in Chromium and over HTTP."""

import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from models.db import session_scope
from models.schedules import Schedule
from models.schedules_store import create_schedule
from models.user import User
from tests.conftest import make_api_key
from tests.ui.conftest import browser_sign_in, make_user, sign_in
from web.ui.schedules import form_field


def _field(p: object, name: str) -> object:
    return p.locator(f'[id="{name}"]')  # type: ignore[attr-defined]


async def _named(engine: AsyncEngine, user_id: str, prefix: str) -> str:
    async with session_scope(engine) as session:
        user = await session.get(User, user_id)
        assert user is not None
        user.name = f"{prefix} {uuid.uuid4().hex[:6]}"
        return user.name


def test_error_paths_map_to_inputs() -> None:
    assert form_field("layers.0.shift.hours") == "layers.0.shift.length"
    assert form_field("layers.1.shift.weekly.handoff_time") == "layers.1.shift.handoff_time"
    assert form_field("layers.0.shift") == "layers.0.shift.kind"
    assert form_field("layers.0.users.1") == "layers.0.users"
    assert form_field("layers.0.restrictions.0.days.2") == "layers.0.restrictions.0.days"
    assert form_field("time_zone") == "time_zone"


async def test_admin_creates_and_edits_a_schedule_in_the_browser(
    page: object, engine: AsyncEngine, api_url: str
) -> None:
    admin = await make_user(engine, "admin")
    other = await make_user(engine, "responder")
    first = await _named(engine, admin.id, "First")
    await _named(engine, other.id, "Second")
    name = f"ui-new-sched-{uuid.uuid4().hex[:6]}"
    await browser_sign_in(page, admin)
    p = page  # type: ignore[assignment]
    await p.goto("/schedules")  # type: ignore[attr-defined]
    await p.get_by_role("link", name="+ New schedule").click()  # type: ignore[attr-defined]
    await p.get_by_label("Name").fill(name)  # type: ignore[attr-defined]
    await p.get_by_label("Time zone").fill("Europe/Berlin")  # type: ignore[attr-defined]
    await _field(p, "layers.0.start").fill("2024-01-01T09:00")  # type: ignore[attr-defined]
    await _field(p, "layers.0.users").fill(f"{admin.id}, {other.id}")  # type: ignore[attr-defined]
    await _field(p, "layers.0.shift.kind").select_option("days")  # type: ignore[attr-defined]
    await _field(p, "layers.0.shift.length").fill("1")  # type: ignore[attr-defined]
    await p.get_by_role("button", name="Create schedule").click()  # type: ignore[attr-defined]
    await p.wait_for_url("**/schedules/sch*")  # type: ignore[attr-defined]
    schedule_id = p.url.rsplit("/", 1)[1]  # type: ignore[attr-defined]
    rows = p.locator("table.timeline-grid tbody tr")  # type: ignore[attr-defined]
    assert await rows.count() == 14
    assert first in await p.locator("table.timeline-grid").inner_text()  # type: ignore[attr-defined]
    # Edit: a 12-hour shift; the form shows the stored layer and one empty extra layer.
    await p.get_by_role("link", name="Edit schedule").click()  # type: ignore[attr-defined]
    assert await _field(p, "layers.1.start").count() == 1  # type: ignore[attr-defined]
    assert first in await p.locator(".rotation").first.inner_text()  # type: ignore[attr-defined]
    await _field(p, "layers.0.shift.kind").select_option("hours")  # type: ignore[attr-defined]
    await _field(p, "layers.0.shift.length").fill("12")  # type: ignore[attr-defined]
    await p.get_by_role("button", name="Save").click()  # type: ignore[attr-defined]
    await p.wait_for_url(f"**/schedules/{schedule_id}")  # type: ignore[attr-defined]
    key = await make_api_key(engine, ["services:read"])
    async with httpx.AsyncClient(base_url=api_url) as client:
        got = await client.get(
            f"/api/schedules/{schedule_id}", headers={"Authorization": f"Bearer {key}"}
        )
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["name"] == name and body["timeZone"] == "Europe/Berlin"
    assert len(body["layers"]) == 1
    assert body["layers"][0]["shift"] == {"kind": "hours", "hours": 12}
    assert body["layers"][0]["users"] == [admin.id, other.id]


async def test_unknown_time_zone_is_shown_next_to_its_field_and_nothing_is_saved(
    page: object, engine: AsyncEngine
) -> None:
    admin = await make_user(engine, "admin")
    name = f"ui-bad-zone-{uuid.uuid4().hex[:6]}"
    await browser_sign_in(page, admin)
    p = page  # type: ignore[assignment]
    await p.goto("/schedules/new")  # type: ignore[attr-defined]
    await p.get_by_label("Name").fill(name)  # type: ignore[attr-defined]
    await p.get_by_label("Time zone").fill("Mars/Olympus_Mons")  # type: ignore[attr-defined]
    await _field(p, "layers.0.start").fill("2024-01-01T09:00")  # type: ignore[attr-defined]
    await _field(p, "layers.0.users").fill(admin.id)  # type: ignore[attr-defined]
    await _field(p, "layers.0.shift.length").fill("1")  # type: ignore[attr-defined]
    await p.get_by_role("button", name="Create schedule").click()  # type: ignore[attr-defined]
    error = p.locator('[id="time_zone-error"]')  # type: ignore[attr-defined]
    assert await error.is_visible()
    assert "unknown time zone" in await error.inner_text()
    assert await p.get_by_label("Time zone").get_attribute("aria-invalid") == "true"  # type: ignore[attr-defined]
    # The typed layer is still there to fix.
    assert await _field(p, "layers.0.users").input_value() == admin.id  # type: ignore[attr-defined]
    async with session_scope(engine) as session:
        found = (await session.exec(select(Schedule).where(Schedule.name == name))).first()
    assert found is None


async def test_observer_gets_no_edit_button_and_forged_posts_are_refused(
    ui_client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    observer = await make_user(engine, "observer")
    async with session_scope(engine) as session:
        schedule = await create_schedule(
            session,
            f"ui-ro-sched-{uuid.uuid4().hex[:6]}",
            "UTC",
            [
                {
                    "start": "2024-01-01T09:00",
                    "users": [observer.id],
                    "shift": {"kind": "days", "days": 1},
                }
            ],
        )
        schedule_id, name = schedule.id, schedule.name
    csrf = await sign_in(ui_client, observer)
    listing = await ui_client.get("/schedules")
    assert listing.status_code == 200 and "New schedule" not in listing.text
    detail = await ui_client.get(f"/schedules/{schedule_id}")
    assert detail.status_code == 200 and "Edit schedule" not in detail.text
    assert (await ui_client.get(f"/schedules/{schedule_id}/edit")).status_code == 403
    forged = {"csrf_token": csrf, "name": "hijacked", "time_zone": "UTC"}
    assert (await ui_client.post(f"/schedules/{schedule_id}/edit", data=forged)).status_code == 403
    assert (await ui_client.post("/schedules/new", data=forged)).status_code == 403
    async with session_scope(engine) as session:
        row = await session.get(Schedule, schedule_id)
        assert row is not None and row.name == name
