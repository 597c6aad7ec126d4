"""Escalation policy pages: a browser builds a two-step policy (one step paging a
schedule), edits it and the API sees the change; field errors save nothing; observers read
only; a policy in use is not deleted."""

import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from models import EscalationPolicy, Service
from models.db import session_scope
from models.escalation import StepSpec, Target
from models.escalation_policies import create_policy
from models.schedules_store import create_schedule
from tests.conftest import Tenant, make_api_key
from tests.ui.conftest import browser_sign_in, make_user, sign_in


async def _schedule(engine: AsyncEngine, user_id: str) -> str:
    async with session_scope(engine) as session:
        schedule = await create_schedule(
            session,
            f"ui-pol-sched-{uuid.uuid4().hex[:6]}",
            "UTC",
            [
                {
                    "start": "2024-01-01T09:00",
                    "users": [user_id],
                    "shift": {"kind": "days", "days": 1},
                }
            ],
        )
        return schedule.id


async def _policy_named(engine: AsyncEngine, name: str) -> EscalationPolicy | None:
    async with session_scope(engine) as session:
        return (
            await session.exec(select(EscalationPolicy).where(EscalationPolicy.name == name))
        ).first()


async def _policy(engine: AsyncEngine, user_id: str) -> str:
    async with session_scope(engine) as session:
        policy = await create_policy(
            session,
            f"ui-pol-{uuid.uuid4().hex[:6]}",
            [StepSpec(delay_minutes=5, targets=(Target(type="user", id=user_id),))],
        )
        return policy.id


async def test_admin_builds_a_two_step_policy_edits_the_delay_and_the_api_sees_it(
    page: object, engine: AsyncEngine, api_url: str
) -> None:
    admin = await make_user(engine, "admin")
    schedule_id = await _schedule(engine, admin.id)
    name = f"ui-pol-{uuid.uuid4().hex[:6]}"
    await browser_sign_in(page, admin)
    p = page  # type: ignore[assignment]
    await p.goto("/policies")  # type: ignore[attr-defined]
    await p.get_by_role("link", name="+ New policy").click()  # type: ignore[attr-defined]
    await p.get_by_label("Name").fill(name)  # type: ignore[attr-defined]
    await p.get_by_label("Repeat count").fill("1")  # type: ignore[attr-defined]
    await p.get_by_label("Step 1 delay (minutes)").fill("5")  # type: ignore[attr-defined]
    await p.locator("#steps-0-targets-0-type").select_option("user")  # type: ignore[attr-defined]
    await p.locator("#steps-0-targets-0-id").select_option(admin.id)  # type: ignore[attr-defined]
    await p.get_by_role("button", name="Add step").click()  # type: ignore[attr-defined]
    await p.get_by_label("Step 2 delay (minutes)").fill("10")  # type: ignore[attr-defined]
    await p.locator("#steps-1-targets-0-type").select_option("schedule")  # type: ignore[attr-defined]
    await p.locator("#steps-1-targets-0-id").select_option(schedule_id)  # type: ignore[attr-defined]
    await p.locator("input[name='steps-1-channels'][value='email']").check()  # type: ignore[attr-defined]
    await p.get_by_role("button", name="Create policy").click()  # type: ignore[attr-defined]
    await p.get_by_text(f"Escalation policy {name} created.").wait_for()  # type: ignore[attr-defined]
    row = p.get_by_role("row").filter(has_text=name)  # type: ignore[attr-defined]
    assert (await row.locator("td").nth(1).inner_text()).strip() == "2"
    assert (await row.locator("td").nth(2).inner_text()).strip() == "1"

    await p.get_by_role("link", name=f"Edit {name}").click()  # type: ignore[attr-defined]
    await p.get_by_label("Step 1 delay (minutes)").fill("15")  # type: ignore[attr-defined]
    await p.get_by_role("button", name="Save").click()  # type: ignore[attr-defined]
    await p.get_by_text(f"Escalation policy {name} saved.").wait_for()  # type: ignore[attr-defined]

    policy = await _policy_named(engine, name)
    assert policy is not None
    key = await make_api_key(engine, ["services:read"])
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        got = await http.get(
            f"/api/escalation-policies/{policy.id}", headers={"Authorization": f"Bearer {key}"}
        )
    assert got.status_code == 200, got.text
    steps = got.json()["steps"]
    assert [s["delayMinutes"] for s in steps] == [15, 10]
    assert steps[0]["targets"] == [{"type": "user", "id": admin.id}]
    assert steps[1]["targets"] == [{"type": "schedule", "id": schedule_id}]
    assert steps[1]["channels"] == ["email"] and steps[0]["channels"] is None
    assert got.json()["repeatCount"] == 1


async def test_a_bad_delay_is_shown_next_to_its_field_and_nothing_is_saved(
    page: object, engine: AsyncEngine
) -> None:
    admin = await make_user(engine, "admin")
    name = f"ui-pol-{uuid.uuid4().hex[:6]}"
    await browser_sign_in(page, admin)
    p = page  # type: ignore[assignment]
    await p.goto("/policies/new")  # type: ignore[attr-defined]
    await p.get_by_label("Name").fill(name)  # type: ignore[attr-defined]
    await p.get_by_label("Step 1 delay (minutes)").fill("99999")  # type: ignore[attr-defined]
    await p.locator("#steps-0-targets-0-id").select_option(admin.id)  # type: ignore[attr-defined]
    await p.get_by_role("button", name="Create policy").click()  # type: ignore[attr-defined]
    error = p.locator("[id='steps-0-delay_minutes-error']")  # type: ignore[attr-defined]
    await error.wait_for()
    assert "1440" in await error.inner_text()
    # The form keeps what was typed.
    assert await p.get_by_label("Step 1 delay (minutes)").input_value() == "99999"  # type: ignore[attr-defined]
    assert await p.locator("#steps-0-targets-0-id").input_value() == admin.id  # type: ignore[attr-defined]
    assert await _policy_named(engine, name) is None


async def test_observer_reads_policies_without_buttons_and_a_forged_post_is_refused(
    ui_client: httpx.AsyncClient, engine: AsyncEngine, tenant: Tenant
) -> None:
    admin = await make_user(engine, "admin")
    policy_id = await _policy(engine, admin.id)
    observer = await make_user(engine, "observer", [tenant.service_id])
    token = await sign_in(ui_client, observer)
    listing = await ui_client.get("/policies")
    assert listing.status_code == 200
    assert "ui-pol-" in listing.text
    assert "Edit" not in listing.text and "New policy" not in listing.text
    assert (await ui_client.get("/policies/new")).status_code == 403
    forged = await ui_client.post(
        "/policies/new",
        data={"name": "forged", "steps-0-targets-0-id": admin.id, "csrf_token": token},
    )
    assert forged.status_code == 403
    deleted = await ui_client.post(f"/policies/{policy_id}/delete", data={"csrf_token": token})
    assert deleted.status_code == 403
    assert await _policy_named(engine, "forged") is None


async def test_deleting_a_policy_a_service_uses_shows_a_409_message(
    ui_client: httpx.AsyncClient, engine: AsyncEngine, tenant: Tenant
) -> None:
    admin = await make_user(engine, "admin")
    used = await _policy(engine, admin.id)
    unused = await _policy(engine, admin.id)
    async with session_scope(engine) as session:
        service = await session.get(Service, tenant.service_id)
        assert service is not None
        service.escalation_policy_id = used
    token = await sign_in(ui_client, admin)
    refused = await ui_client.post(f"/policies/{used}/delete", data={"csrf_token": token})
    assert refused.status_code == 409
    assert "Cannot delete" in refused.text and tenant.service_id in refused.text
    gone = await ui_client.post(f"/policies/{unused}/delete", data={"csrf_token": token})
    assert gone.status_code == 302
    async with session_scope(engine) as session:
        assert await session.get(EscalationPolicy, used) is not None
        assert await session.get(EscalationPolicy, unused) is None
