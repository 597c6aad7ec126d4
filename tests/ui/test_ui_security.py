"""The web UI's defences over plain HTTP on the real stack (docs/security.md): security
headers on every response, cookie flags, sign-in throttling shared by API processes, and a
Content-Security-Policy the pages really live with (in Chromium, when present)."""

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest_asyncio
from playwright.async_api import expect
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.app_server import serving
from tests.conftest import make_tenant
from tests.ui.conftest import UiUser, browser_sign_in, csrf_of, make_user
from tocsin.settings import Settings
from web.app import create_app
from web.security_headers import CONTENT_SECURITY_POLICY

# --- headers ----------------------------------------------------------------------------------


async def test_every_response_carries_the_security_headers(ui_client: httpx.AsyncClient) -> None:
    answers = [
        await ui_client.get("/healthz"),
        await ui_client.get("/login"),
        await ui_client.get("/incidents"),  # 302 to sign in
        await ui_client.get("/api/incidents"),  # 401
        await ui_client.get("/no-such-page"),  # 404
        await ui_client.get("/static/tocsin.css"),
        await ui_client.get("/openapi.json"),
        await ui_client.post("/login", data={"email": "x@example.com"}),  # 403, no CSRF token
        await ui_client.post("/api/events", json={}),  # 401, answered ahead of Quart
    ]
    assert [a.status_code for a in answers] == [200, 200, 302, 401, 404, 200, 200, 403, 401]
    for answer in answers:
        headers = answer.headers
        assert headers["x-content-type-options"] == "nosniff", answer.url
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "same-origin"
        assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert "strict-transport-security" not in headers, "plain http: no HSTS"
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY


async def test_the_cdn_loaded_api_docs_only_forbid_framing(ui_client: httpx.AsyncClient) -> None:
    docs = await ui_client.get("/docs")
    assert docs.status_code == 200
    assert docs.headers["content-security-policy"] == "frame-ancestors 'none'"


async def test_templates_have_no_inline_style_or_script() -> None:
    """What the policy forbids must not be in the pages (a browser would drop it)."""
    from web.ui import TEMPLATES

    for template in TEMPLATES.glob("*.html"):
        source = template.read_text()
        assert "style=" not in source and "<style" not in source, template.name
        assert "<script>" not in source and " on" + "click=" not in source, template.name


async def test_the_session_cookie_is_httponly_and_lax_and_not_secure_over_http(
    ui_client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    user = await make_user(engine, "admin")
    page = await ui_client.get("/login")
    answer = await ui_client.post(
        "/login",
        data={"email": user.email, "password": user.password, "csrf_token": csrf_of(page.text)},
    )
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert "secure" not in cookie


async def test_https_publication_adds_hsts_and_a_secure_cookie(
    settings: Settings, engine: AsyncEngine, worker: None
) -> None:
    user = await make_user(engine, "responder")
    app = create_app(settings.model_copy(update={"public_url": "https://tocsin.example"}))
    async with app.test_app() as test_app:
        client = test_app.test_client()
        page = await client.get("/login", scheme="https")
        assert page.headers["Strict-Transport-Security"] == "max-age=31536000"
        token = csrf_of(await page.get_data(as_text=True))
        answer = await client.post(
            "/login",
            form={"email": user.email, "password": user.password, "csrf_token": token},
            scheme="https",
        )
        assert answer.status_code == 302
        cookie = answer.headers["Set-Cookie"].lower()
        assert "secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie


# --- sign-in throttling -----------------------------------------------------------------------


def _from(address: str, base_url: str) -> httpx.AsyncClient:
    """A client whose requests come from ``address`` (any 127.x.y.z is this machine), so
    throttling one address leaves the other tests' 127.0.0.1 alone."""
    transport = httpx.AsyncHTTPTransport(local_address=address)
    return httpx.AsyncClient(base_url=base_url, transport=transport, timeout=30)


async def _attempt(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    page = await client.get("/login")
    return await client.post(
        "/login", data={"email": email, "password": password, "csrf_token": csrf_of(page.text)}
    )


@pytest_asyncio.fixture
async def other_api(settings: Settings, worker: None) -> AsyncIterator[str]:
    """A second API process on the same database."""
    async with serving(settings) as url:
        yield url


async def test_an_account_is_locked_after_five_failures_across_api_processes(
    api_url: str, other_api: str, engine: AsyncEngine
) -> None:
    user = await make_user(engine, "responder")
    bystander = await make_user(engine, "responder")
    async with _from("127.0.0.3", api_url) as first, _from("127.0.0.3", other_api) as second:
        for client in (first, second, first, second, first):
            assert (await _attempt(client, user.email, "wrong-password")).status_code == 401
        for client in (second, first):  # the right password no longer helps, on either
            locked = await _attempt(client, user.email, user.password)
            assert locked.status_code == 429
            # The 900 s window, counted in whole seconds (migration 0010: a bucket stays
            # until its second is a full window old, so up to 901 s when asked at once).
            assert 0 < int(locked.headers["retry-after"]) <= 901
            assert "Too many sign-in attempts" in locked.text
        # Same address, another account: only the account is locked.
        assert (await _attempt(first, bystander.email, bystander.password)).status_code == 302


async def test_a_successful_sign_in_forgets_the_failures(api_url: str, engine: AsyncEngine) -> None:
    user = await make_user(engine, "responder")
    async with _from("127.0.0.4", api_url) as client:
        for _ in range(2):
            for _ in range(4):
                assert (await _attempt(client, user.email, "wrong-password")).status_code == 401
            assert (await _attempt(client, user.email, user.password)).status_code == 302
            client.cookies.clear()


async def test_an_address_is_throttled_after_twenty_failures(
    settings: Settings, engine: AsyncEngine
) -> None:
    """With the default per-address limit (the session's API allows more: its tests all
    sign in from 127.0.0.1)."""
    user = await make_user(engine, "responder")
    default = Settings.model_fields["login_attempts_per_address"].default
    async with serving(settings.model_copy(update={"login_attempts_per_address": default})) as url:
        async with _from("127.0.0.2", url) as client:
            for _ in range(default):
                guess = f"nobody-{uuid.uuid4().hex[:8]}@example.com"
                assert (await _attempt(client, guess, "wrong-password")).status_code == 401
            assert (await _attempt(client, user.email, user.password)).status_code == 429
        # The account itself is fine from another address.
        async with _from("127.0.0.5", url) as client:
            assert (await _attempt(client, user.email, user.password)).status_code == 302


# --- the policy in a real browser -------------------------------------------------------------


async def test_pages_work_under_the_content_security_policy(page: Any, engine: AsyncEngine) -> None:
    tenant = await make_tenant(engine)
    admin: UiUser = await make_user(engine, "admin", [tenant.service_id])
    violations: list[str] = []
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )
    await browser_sign_in(page, admin)
    for path in ("/incidents", "/dashboard", "/services", "/schedules/new", "/policies/new"):
        response = await page.goto(path)
        assert response.status < 400, path
    steps = page.locator("#steps [data-step]")
    before = await steps.count()
    await page.get_by_role("button", name="Add step").click()  # the page's own script runs
    await expect(steps).to_have_count(before + 1)
    assert violations == []
