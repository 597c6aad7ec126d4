"""The responder pages in a real browser (headless Chromium): sign in, watch an incident
arrive live, act on it, open one by hand; observers only look."""

from typing import Any

import httpx
from playwright.async_api import expect
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import make_tenant, new_key, trigger_body
from tests.ui.conftest import browser_sign_in, make_user


async def _trigger(http: httpx.AsyncClient, tenant: Any, summary: str) -> str:
    response = await http.post(
        "/api/events",
        json={**trigger_body(new_key("ui"), summary), "routing_key": tenant.integration_key},
        headers=tenant.token,
    )
    assert response.status_code == 202, response.text
    return summary


async def test_new_incident_appears_live_and_is_acknowledged_snoozed_resolved(
    page: Any, engine: AsyncEngine, http: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(engine)
    responder = await make_user(engine, "responder", [tenant.service_id])
    await browser_sign_in(page, responder)
    await page.get_by_label("Service").select_option(tenant.service_id)
    await page.get_by_role("button", name="Filter").click()
    await page.wait_for_url(f"**service={tenant.service_id}**")
    summary = await _trigger(http, tenant, f"Disk full {new_key()}")
    # No reload: the list refreshes itself and keeps the service filter.
    link = page.get_by_role("link", name=summary)
    await expect(link).to_be_visible(timeout=10_000)
    assert tenant.service_id in page.url
    await link.click()
    await page.get_by_role("button", name="Acknowledge").click()
    await expect(page.locator("#incident-status")).to_have_text("ACKNOWLEDGED")
    await expect(page.locator("ol.timeline")).to_contain_text("ACKNOWLEDGED")
    await page.get_by_label("Snooze for").select_option("60")
    await page.get_by_role("button", name="Snooze").click()
    await expect(page.locator("#incident-status")).to_contain_text("SNOOZED")
    await page.get_by_role("button", name="Resolve").click()
    await expect(page.locator("#incident-status")).to_have_text("RESOLVED")
    await expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)


async def test_manual_incident_with_a_validation_error_first(
    page: Any, engine: AsyncEngine
) -> None:
    tenant = await make_tenant(engine)
    responder = await make_user(engine, "responder", [tenant.service_id])
    await browser_sign_in(page, responder)
    await page.get_by_role("link", name="+ New Incident").click()
    await page.get_by_label("Title").fill("Checkout is slow")
    await page.get_by_role("button", name="Open incident").click()
    await expect(page.locator("#service-error")).to_have_text("Choose the affected service.")
    await expect(page.get_by_label("Title")).to_have_value("Checkout is slow")
    await page.get_by_label("Service").select_option(tenant.service_id)
    await page.get_by_label("Urgency").select_option("LOW")
    await page.get_by_label("Priority").select_option("P3")
    await page.get_by_role("button", name="Open incident").click()
    await expect(page.get_by_role("heading", name="Checkout is slow")).to_be_visible()
    await expect(page.locator("dl.facts .badge")).to_have_text("LOW")
    await page.get_by_label("Note").fill("Looking at the database")
    await page.get_by_role("button", name="Add note").click()
    await expect(page.locator("ol.timeline")).to_contain_text("Looking at the database")


async def test_observer_sees_no_actions_and_a_forged_post_is_refused(
    page: Any, engine: AsyncEngine, http: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(engine)
    observer = await make_user(engine, "observer", [tenant.service_id])
    summary = await _trigger(http, tenant, f"Queue backlog {new_key()}")
    await browser_sign_in(page, observer)
    await page.get_by_role("link", name=summary).click()
    await expect(page.get_by_role("heading", name=summary)).to_be_visible()
    await expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)
    await expect(page.get_by_role("link", name="+ New Incident")).to_have_count(0)
    # The observer's own session and CSRF token, a hand-made form post: still refused.
    status = await page.evaluate(
        """async () => {
            const token = document.querySelector('input[name=csrf_token]').value;
            const body = new URLSearchParams({csrf_token: token});
            const r = await fetch(location.pathname + '/acknowledge', {method: 'POST', body});
            return r.status;
        }"""
    )
    assert status == 403
    await page.reload()
    await expect(page.locator("#incident-status")).to_have_text("OPEN")


async def test_post_without_csrf_token_is_refused_in_the_browser(
    page: Any, engine: AsyncEngine, http: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(engine)
    responder = await make_user(engine, "responder", [tenant.service_id])
    summary = await _trigger(http, tenant, f"Latency {new_key()}")
    await browser_sign_in(page, responder)
    await page.get_by_role("link", name=summary).click()
    status = await page.evaluate(
        """async () => (await fetch(location.pathname + '/acknowledge',
            {method: 'POST', body: new URLSearchParams({})})).status"""
    )
    assert status == 403


async def test_dashboard_and_small_screen(page: Any, engine: AsyncEngine) -> None:
    admin = await make_user(engine, "admin")
    await page.set_viewport_size({"width": 375, "height": 800})
    await browser_sign_in(page, admin)
    await page.get_by_role("link", name="Dashboard").click()
    await expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    await expect(page.locator("table")).to_contain_text("Last 7 days")
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375
