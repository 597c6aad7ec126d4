"""``make screenshots``: PNGs of the main pages for docs/screenshots/ (and the README).

Runs only with TOCSIN_SCREENSHOTS=1, on the same real stack as the other browser tests.
"""

import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import expect
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import make_tenant, new_key, trigger_body
from tests.ui.conftest import browser_sign_in, make_user

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

pytestmark = pytest.mark.skipif(
    os.environ.get("TOCSIN_SCREENSHOTS") != "1", reason="screenshots: run `make screenshots`"
)


async def test_screenshots(page: Any, engine: AsyncEngine, http: httpx.AsyncClient) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    tenant = await make_tenant(engine, f"checkout-{new_key()[-4:]}")
    admin = await make_user(engine, "admin")
    for summary, severity in [
        ("Checkout error rate above 5%", "critical"),
        ("Payment provider latency p99 > 2s", "warning"),
        ("Disk 85% full on db-2", "info"),
    ]:
        body = trigger_body(new_key("shot"), summary, severity)
        body["payload"]["custom_details"] = {"region": "eu-west-1", "runbook": "RB-42"}
        response = await http.post(
            "/api/events",
            json={**body, "routing_key": tenant.integration_key},
            headers=tenant.token,
        )
        assert response.status_code == 202
    await page.goto("/login")
    await page.screenshot(path=str(OUT / "login.png"))
    await browser_sign_in(page, admin)
    await page.goto(f"/incidents?service={tenant.service_id}")
    await page.screenshot(path=str(OUT / "incidents.png"), full_page=True)
    await page.get_by_role("link", name="Checkout error rate above 5%").click()
    await page.get_by_role("button", name="Acknowledge").click()
    await expect(page.locator("#incident-status")).to_have_text("ACKNOWLEDGED")
    await page.screenshot(path=str(OUT / "incident.png"), full_page=True)
    await page.goto("/incidents/new")
    await page.screenshot(path=str(OUT / "new-incident.png"), full_page=True)
    await page.goto("/dashboard")
    await page.screenshot(path=str(OUT / "dashboard.png"), full_page=True)
    await page.goto(f"/services/{tenant.service_id}")
    await page.screenshot(path=str(OUT / "service.png"), full_page=True)
    await page.goto("/policies")
    await page.screenshot(path=str(OUT / "policies.png"), full_page=True)
    await page.set_viewport_size({"width": 375, "height": 800})
    await page.goto(f"/incidents?service={tenant.service_id}")
    await page.screenshot(path=str(OUT / "incidents-375.png"), full_page=True)
