"""Browser tests of the web UI: Playwright driving Debian's Chromium, headless.

Without /usr/bin/chromium the browser tests skip, loudly (``.ci/run`` installs it). Each
test makes its own users (``make_user``) and services, so tests never share a session.
"""

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine

from models import Service
from models.db import session_scope
from models.directory import create_team, create_user
from models.passwords import hash_password

CHROMIUM = Path("/usr/bin/chromium")
HAVE_CHROMIUM = CHROMIUM.exists()
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass(frozen=True)
class UiUser:
    id: str
    email: str
    password: str
    role: str


async def make_user(engine: AsyncEngine, role: str, service_ids: list[str] = ()) -> UiUser:  # type: ignore[assignment]
    """A user who can sign in; a non-admin gets a team owning ``service_ids``."""
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
    password = f"pw-{uuid.uuid4().hex}"
    async with session_scope(engine) as session:
        user = await create_user(session, role.title(), email, role=role)
        user.password_hash = hash_password(password)
        if service_ids:
            team, _ = await create_team(session, f"team-{uuid.uuid4().hex[:8]}", [user.id])
            for service_id in service_ids:
                service = await session.get(Service, service_id)
                assert service is not None
                service.team_id = team.id
    return UiUser(user.id, email, password, role)


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "page has no CSRF field"
    return match.group(1)


async def sign_in(client: httpx.AsyncClient, user: UiUser) -> str:
    """Sign an httpx client in; returns the session's CSRF token."""
    page = await client.get("/login")
    response = await client.post(
        "/login",
        data={"email": user.email, "password": user.password, "csrf_token": csrf_of(page.text)},
    )
    assert response.status_code == 302, response.text
    return csrf_of((await client.get("/incidents")).text)


@pytest_asyncio.fixture
async def ui_client(api_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A fresh cookie jar on the real app (one per test: one signed-in person)."""
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        yield client


@pytest_asyncio.fixture(scope="session")
async def browser() -> AsyncIterator[object]:
    if not HAVE_CHROMIUM:
        pytest.skip(
            f"BROWSER TESTS SKIPPED: {CHROMIUM} is missing (apt-get install chromium; "
            ".ci/run does this)"
        )
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        await browser.close()


@pytest_asyncio.fixture
async def page(browser: object, api_url: str) -> AsyncIterator[object]:
    """A new browser context (its own cookies) and page on the real app."""
    context = await browser.new_context(base_url=api_url, viewport={"width": 1200, "height": 900})  # type: ignore[attr-defined]
    page = await context.new_page()
    page.set_default_timeout(10_000)
    yield page
    await context.close()


async def browser_sign_in(page: object, user: UiUser) -> None:
    await page.goto("/login")  # type: ignore[attr-defined]
    await page.get_by_label("Email").fill(user.email)  # type: ignore[attr-defined]
    await page.get_by_label("Password").fill(user.password)  # type: ignore[attr-defined]
    await page.get_by_role("button", name="Sign in").click()  # type: ignore[attr-defined]
    await page.wait_for_url("**/incidents")  # type: ignore[attr-defined]
